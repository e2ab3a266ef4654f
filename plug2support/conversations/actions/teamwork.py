"""The team around a conversation (C2–C4, D9): claims, private notes, transfer
requests, reassignment, priority."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from plug2support.accounts.models import Membership, User
from plug2support.lib.ids import is_id
from plug2support.notifications.actions import do_notify
from plug2support.realtime.hub import publish_after_commit
from plug2support.realtime.topics import member_topic

from ..alert_mail import alert_email
from ..hot_path import append_event
from ..models import (
    Conversation,
    Event,
    EventKind,
    Priority,
    Sender,
    TransferRequest,
    TransferStatus,
)
from ..people import display_name, user_ref
from ..serializers import transfer_payload
from .core import (
    ConversationError,
    Posted,
    attach,
    check_attachments,
    check_message,
    lock_conversation,
    operator_resend,
    publish,
    team_html,
)
from .mentions import check_mentions, record_mentions


def do_set_priority(membership: Membership, conversation: Conversation, priority: object) -> None:
    if not is_id(priority) or priority not in Priority.values:
        raise ConversationError("invalid_priority", "priority is 0 (low) to 3 (urgent).")
    with transaction.atomic():
        locked = lock_conversation(conversation.pk)
        if locked.priority == priority:
            return
        labels = dict(Priority.choices)
        Conversation.objects.filter(pk=locked.pk).update(priority=priority)
        event = append_event(locked, kind=EventKind.PRIORITY, sender=Sender.SYSTEM,
                             author=membership.user,
                             body=f"{display_name(membership.user)}: {labels[locked.priority]} → "
                             f"{labels[priority]} priority")
        locked.priority = priority
        publish(locked, event)


def served_by_other(conversation: Conversation) -> ConversationError:
    served_by = user_ref(conversation.assignee)
    name = served_by["name"] if served_by else "Another operator"
    return ConversationError(
        "already_served", f"{name} is already serving this visitor.", served_by=served_by)


def claim_unassigned(conversation: Conversation, user: User) -> Event:
    # A conditional UPDATE: of several operators claiming at once, exactly one changes the
    # row; the others see 0 rows and learn who won.
    won = Conversation.objects.filter(pk=conversation.pk, assignee__isnull=True).update(
        assignee=user, updated_at=timezone.now()
    )
    if not won:
        conversation.refresh_from_db(fields=["assignee"])
        raise served_by_other(conversation)
    conversation.assignee = user
    return append_event(conversation, kind=EventKind.CLAIMED, sender=Sender.SYSTEM, author=user,
                        body=f"{display_name(user)} joined the conversation")


def check_group(conversation: Conversation, membership: Membership) -> None:
    """A conversation routed to a group is claimed by its members (admins may reassign)."""
    if conversation.group_id is None or membership.is_admin:
        return
    if not conversation.group.members.filter(pk=membership.user_id).exists():  # type: ignore[union-attr]
        raise ConversationError(
            "routed_to_group", f"This conversation was routed to the "
            f"{conversation.group.name} group.")  # type: ignore[union-attr]


def do_claim(membership: Membership, conversation: Conversation) -> Event:
    """C2: the first operator to claim serves the visitor; the others are told who did."""
    with transaction.atomic():
        conversation = lock_conversation(conversation.pk)
        if conversation.assignee_id == membership.user_id:
            raise ConversationError("already_yours", "You are already serving this visitor.")
        check_group(conversation, membership)
        event = claim_unassigned(conversation, membership.user)
        publish(conversation, event)
    return event


def do_add_note(membership: Membership, conversation: Conversation, *, client_id: object,
                body: object, attachments: object = None, mentions: object = None) -> Posted:
    """Any operator of the company writes a note for the team; the visitor never sees it.
    `mentions`: teammates' user ids (M3, actions/mentions.py), told with a link to it."""
    ids = check_attachments(attachments)
    text, cid = check_message(body, client_id, ids)
    html = team_html(text)
    mentioned = check_mentions(membership, mentions)
    user = membership.user
    with transaction.atomic():
        locked = lock_conversation(conversation.pk)
        resent = operator_resend(locked, cid, user, EventKind.NOTE, text, ids)
        if resent is not None:
            return resent
        event = append_event(locked, kind=EventKind.NOTE, sender=Sender.OPERATOR, author=user,
                             body=text, client_id=cid, html=html)
        attach(event, ids, user)
        record_mentions(membership, locked, event, mentioned)
        publish(locked, event)
    return Posted(event, duplicate=False)


def _publish_transfer(conversation: Conversation, request: TransferRequest) -> None:
    frame = {"type": "transfer", "request": transfer_payload(request)}
    for user_id in {request.requested_by_id, request.asked_of_id}:
        publish_after_commit(member_topic(conversation.company_id, user_id), frame)


def do_request_transfer(membership: Membership, conversation: Conversation) -> TransferRequest:
    """Ask the serving operator to hand the visitor over to me."""
    user = membership.user
    with transaction.atomic():
        locked = lock_conversation(conversation.pk)
        if locked.assignee_id is None:
            raise ConversationError("not_served",
                                    "Nobody serves this visitor yet: claim the conversation.")
        if locked.assignee_id == user.pk:
            raise ConversationError("already_yours", "You are already serving this visitor.")
        if TransferRequest.objects.filter(conversation=locked, requested_by=user,
                                          status=TransferStatus.PENDING).exists():
            raise ConversationError("already_requested",
                                    "You already asked for this conversation; wait for the answer.")
        request = TransferRequest.objects.create(conversation=locked, requested_by=user,
                                                 asked_of_id=locked.assignee_id)
        event = append_event(locked, kind=EventKind.TRANSFER_REQUESTED, sender=Sender.SYSTEM,
                             author=user, body=f"{display_name(user)} asked "
                             f"{display_name(locked.assignee)} to transfer the visitor")
        publish(locked, event)
        _publish_transfer(locked, request)
        title = f"{display_name(user)} asks to take over {locked.visitor.display_name}"
        do_notify(company_id=locked.company_id, user_ids=[request.asked_of_id],
                  kind="transfer_request", title=title, url=f"/inbox/{locked.pk}/",
                  **alert_email(locked.company_id, [request.asked_of_id], "transfer_request",
                                title, f"/inbox/{locked.pk}/"))
    return request


def _close_other_requests(conversation: Conversation, keep: int | None = None) -> None:
    """Whoever asked for the visitor before it changed hands asked the wrong person now."""
    stale = TransferRequest.objects.filter(conversation=conversation,
                                           status=TransferStatus.PENDING)
    if keep is not None:
        stale = stale.exclude(pk=keep)
    stale = stale.select_related("requested_by", "asked_of")
    for request in stale:
        TransferRequest.objects.filter(pk=request.pk).update(
            status=TransferStatus.WITHDRAWN, decided_at=timezone.now())
        request.status = TransferStatus.WITHDRAWN
        _publish_transfer(conversation, request)


def _locked_pending(request: TransferRequest) -> tuple[Conversation, TransferRequest]:
    """The request's conversation, then the request itself, both locked (in that order, as
    every writer locks the conversation first); refused once it was decided."""
    conversation = lock_conversation(request.conversation_id)
    request = (TransferRequest.objects.select_for_update(of=("self",))
               .select_related("requested_by", "asked_of").get(pk=request.pk))
    if request.status != TransferStatus.PENDING:
        raise ConversationError("transfer_closed",
                                f"This request was already {request.get_status_display().lower()}.")
    return conversation, request


def do_answer_transfer(membership: Membership, request: TransferRequest, *,
                       accept: bool) -> TransferRequest:
    """The serving operator accepts (the requester now serves) or declines."""
    user = membership.user
    with transaction.atomic():
        locked, request = _locked_pending(request)
        if request.asked_of_id != user.pk:
            raise ConversationError("not_yours", "Only the operator who was asked can answer.")
        if locked.assignee_id != user.pk:
            raise ConversationError("not_serving",
                                    "You no longer serve this conversation: nothing to hand over.")
        now = timezone.now()
        if accept:
            moved = Conversation.objects.filter(pk=locked.pk, assignee_id=user.pk).update(
                assignee=request.requested_by, updated_at=now)
            if not moved:  # pragma: no cover - the row is locked; kept as a guard
                raise ConversationError("not_serving", "You no longer serve this conversation.")
            locked.assignee = request.requested_by
            _close_other_requests(locked, keep=request.pk)
            status, kind = TransferStatus.ACCEPTED, EventKind.TRANSFER_ACCEPTED
            body = f"{display_name(request.requested_by)} took over from {display_name(user)}"
        else:
            status, kind = TransferStatus.DECLINED, EventKind.TRANSFER_DECLINED
            body = (f"{display_name(user)} declined to transfer the visitor to "
                    f"{display_name(request.requested_by)}")
        _decide(locked, request, status, kind, user, body)
    return request


def _decide(conversation: Conversation, request: TransferRequest, status: str, kind: str,
            author: User, body: str) -> None:
    """Close a transfer request: its status, a history event, and everyone concerned told."""
    TransferRequest.objects.filter(pk=request.pk).update(status=status,
                                                         decided_at=timezone.now())
    request.status = status
    event = append_event(conversation, kind=kind, sender=Sender.SYSTEM, author=author, body=body)
    publish(conversation, event)
    _publish_transfer(conversation, request)


def do_withdraw_transfer(membership: Membership, request: TransferRequest) -> TransferRequest:
    user = membership.user
    with transaction.atomic():
        locked, request = _locked_pending(request)
        if request.requested_by_id != user.pk:
            raise ConversationError("not_yours", "Only the operator who asked can withdraw.")
        _decide(locked, request, TransferStatus.WITHDRAWN, EventKind.TRANSFER_WITHDRAWN, user,
                f"{display_name(user)} withdrew the transfer request")
    return request


def do_reassign(membership: Membership, conversation: Conversation, to_user_id: object) -> Event:
    """Owners and admins hand a conversation to any operator of the company directly."""
    if not membership.is_admin:
        raise ConversationError("forbidden", "Only owners and admins can reassign.")
    if not is_id(to_user_id):
        raise ConversationError("not_found", "No such operator in this company.")
    target = (Membership.objects.filter(company_id=membership.company_id, user_id=to_user_id)
              .select_related("user").first())
    if target is None:
        raise ConversationError("not_found", "No such operator in this company.")
    with transaction.atomic():
        locked = lock_conversation(conversation.pk)
        if locked.assignee_id == target.user_id:
            raise ConversationError("already_serving",
                                    f"{display_name(target.user)} already serves this visitor.")
        Conversation.objects.filter(pk=locked.pk).update(assignee=target.user,
                                                         updated_at=timezone.now())
        locked.assignee = target.user
        _close_other_requests(locked)
        title = (f"{display_name(membership.user)} handed you "
                 f"{locked.visitor.display_name}")
        do_notify(company_id=locked.company_id, user_ids=[target.user_id], kind="reassigned",
                  title=title, url=f"/inbox/{locked.pk}/",
                  **alert_email(locked.company_id, [target.user_id], "reassigned", title,
                                f"/inbox/{locked.pk}/"))
        event = append_event(locked, kind=EventKind.REASSIGNED, sender=Sender.SYSTEM,
                             author=membership.user,
                             body=f"{display_name(membership.user)} handed the visitor to "
                             f"{display_name(target.user)}")
        publish(locked, event)
    return event
