"""M10: removing a member from a company. The person's console sockets for that company
close at once (4403: `member_removed` on their member topic, realtime/endpoints/operator.py),
and nothing of theirs stays behind in the company: the conversations they served go back to
the pool (routed groups kept, so the group's members see them), their pending transfer
requests are withdrawn, and they leave the company's operator groups."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from plug2support.accounts.models import Membership, Role
from plug2support.lib.ids import is_id
from plug2support.realtime.hub import publish_after_commit
from plug2support.realtime.topics import member_topic

from ..hot_path import append_event
from ..models import Conversation, EventKind, OperatorGroup, Sender, TransferRequest, TransferStatus
from ..people import display_name
from .core import ConversationError, lock_conversation, publish
from .teamwork import _close_other_requests, _publish_transfer


def check_remove_member(remover: Membership, member_id: object) -> Membership:
    """The member to remove (of the remover's company; another company's → not found)."""
    if not remover.is_admin:
        raise ConversationError("forbidden", "Only owners and admins can remove members.")
    target = None
    if is_id(member_id):
        target = (Membership.objects.filter(pk=member_id, company_id=remover.company_id)
                  .select_related("user").first())
    if target is None:
        raise ConversationError("not_found", "No such member in this company.")
    if target.pk == remover.pk:
        raise ConversationError("forbidden", "You cannot remove yourself from the company here.")
    if target.role == Role.OWNER:
        if remover.role != Role.OWNER:
            raise ConversationError("forbidden", "Only an owner can remove an owner.")
        owners = Membership.objects.filter(company_id=remover.company_id, role=Role.OWNER)
        if owners.count() <= 1:  # pragma: no cover - the remover is an owner too
            raise ConversationError("forbidden", "A company keeps at least one owner.")
    return target


def do_remove_member(remover: Membership, member_id: object) -> Membership:
    target = check_remove_member(remover, member_id)
    user, company_id = target.user, remover.company_id
    with transaction.atomic():
        served = list(Conversation.objects.filter(company_id=company_id, assignee_id=user.pk)
                      .values_list("pk", flat=True))
        for conversation_id in served:
            locked = lock_conversation(conversation_id)
            if locked.assignee_id != user.pk:
                continue
            Conversation.objects.filter(pk=locked.pk).update(assignee=None,
                                                             updated_at=timezone.now())
            locked.assignee = None
            _close_other_requests(locked)
            event = append_event(
                locked, kind=EventKind.REASSIGNED, sender=Sender.SYSTEM, author=remover.user,
                body=f"{display_name(user)} left the team: the visitor is back in the pool")
            publish(locked, event)
        asked = (TransferRequest.objects.filter(conversation__company_id=company_id,
                                                requested_by=user, status=TransferStatus.PENDING)
                 .select_related("conversation", "requested_by", "asked_of"))
        for request in asked:
            TransferRequest.objects.filter(pk=request.pk).update(
                status=TransferStatus.WITHDRAWN, decided_at=timezone.now())
            request.status = TransferStatus.WITHDRAWN
            _publish_transfer(request.conversation, request)
        for group in OperatorGroup.objects.filter(company_id=company_id, members=user):
            group.members.remove(user)
        target.delete()
        publish_after_commit(member_topic(company_id, user.pk), {"type": "member_removed"})
    return target
