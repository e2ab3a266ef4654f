"""Messages (C1, C6, C8, F2): the visitor's, the offline form's, the operator's (and its
e-mailed copy), the routing of a new conversation (D8), and the delivered/read receipts."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from plug2support.accounts.models import Membership
from plug2support.contacts.actions import do_claim_email
from plug2support.lib.ids import is_id
from plug2support.lib.ratelimit import hit
from plug2support.notifications.actions import do_notify
from plug2support.realtime.hub import publish_after_commit
from plug2support.realtime.topics import conversation_topic, visitor_topic
from plug2support.widgets.models import Visitor

from .. import channels, stages
from ..alert_mail import alert_email, push_for_visitor_message
from ..first_message import Opening, lock_and_read, open_conversation
from ..hot_path import append_event, locked_current
from ..models import Conversation, Event, EventKind, RoutingRule, Sender, Stage
from ..people import display_name
from ..routing import first_match
from ..serializers import receipts
from ..spam import suspicion
from .core import (
    ConversationError,
    Posted,
    answer_resend,
    attach,
    check_attachments,
    check_communication,
    check_message,
    existing_message,
    lock_conversation,
    operator_resend,
    publish,
    team_html,
)
from .snooze import wake_for_customer
from .stages import auto_move
from .teamwork import check_group, claim_unassigned, served_by_other

_AFTER_VISITOR_MESSAGE = (f"UPDATE {Conversation._meta.db_table} SET preview = %s, "  # noqa: S608
                          "reply_by_email = %s, waiting_since = %s WHERE id = %s")


# A visitor may send this many messages per window; more gets a clear error (docs/protocol.md).
VISITOR_MESSAGES_PER_WINDOW = 30
VISITOR_MESSAGE_WINDOW_SECONDS = 60


def do_post_visitor_message(visitor: Visitor, *, client_id: object, body: object,
                            offline: bool = False, attachments: object = None,
                            ip: str = "", honeypot: object = None,
                            none_seen: bool = False,
                            on_open: Callable[[int], None] | None = None) -> Posted:
    """C1/C8: store the visitor's message (creating the conversation on the first one).
    `none_seen`: the caller has seen no conversation of this visitor's (a widget socket
    following none), so the look for the current one is left to the visitor's lock, which
    finds one all the same if another tab has just opened it — a statement less.
    `on_open(id)`: called with the id of the conversation this message opens, inside the
    transaction, before anything of it is published (the transaction may still roll back)."""
    ids = check_attachments(attachments)
    text, cid = check_message(body, client_id, ids)
    with transaction.atomic():
        conversation, resent_id = (None, None) if none_seen else locked_current(visitor, cid)
        if resent_id is not None:
            return answer_resend(Event.objects.select_related("author").get(pk=resent_id),
                                 EventKind.MESSAGE, text, ids)
        opening = None
        if conversation is None:
            # Locking the visitor makes "first message creates the conversation" safe when
            # two tabs send at once: the second one finds the conversation the first created.
            opening = lock_and_read(visitor, timezone.now())
            if opening.current_id is not None:
                conversation = lock_conversation(opening.current_id)
                existing = existing_message(conversation, Sender.VISITOR, cid)
                if existing is not None:
                    return answer_resend(existing, EventKind.MESSAGE, text, ids)
        check_communication(visitor.widget.company_id, operator=False)
        if not hit(f"visitor-msg:{visitor.pk}", VISITOR_MESSAGES_PER_WINDOW,
                   VISITOR_MESSAGE_WINDOW_SECONDS):
            raise ConversationError(
                "rate_limited",
                f"Too many messages: at most {VISITOR_MESSAGES_PER_WINDOW} per "
                f"{VISITOR_MESSAGE_WINDOW_SECONDS} seconds. Please wait a moment.",
                retry_after=VISITOR_MESSAGE_WINDOW_SECONDS,
            )
        reason = None
        # The preview of a message with attachments names them: set below.
        preview = "" if ids else text[:200]
        if conversation is None:

            assert opening is not None
            reason = suspicion(text, honeypot=honeypot, visitor_id=visitor.pk, ip=ip,
                               recent_conversations=opening.recent)
            now = timezone.now()
            conversation, event = open_conversation(
                visitor, stage=Stage.SUSPENDED if reason else Stage.NEW,
                priority=opening.priority(now), body=text, client_id=cid, preview=preview,
                reply_by_email=offline, now=now, listen=opening.listening)
            if on_open is not None:
                on_open(conversation.pk)
            publish_after_commit(visitor_topic(visitor.pk), {
                "type": "conversation_started", "conversation": {"id": conversation.pk}})
            first = True
            reply_by_email = offline
            woken = None
        else:
            first = False
            reply_by_email = conversation.reply_by_email or offline
            event = append_event(conversation, kind=EventKind.MESSAGE, sender=Sender.VISITOR,
                                 body=text, client_id=cid,
                                 visitor_message=None if ids else (preview, reply_by_email))
            woken = wake_for_customer(conversation)  # M4: no statement unless snoozed
        if reason:
            # Suspended: no routing, no notification; a reviewer releases it (D3).
            routed: Event | None = append_event(conversation, kind=EventKind.SUSPECTED,
                                                sender=Sender.SYSTEM,
                                                body=f"Suspended by the spam filter: {reason}")
        else:
            routed = (route_new_conversation(conversation, text, opening)
                      if first and opening else None)
        if not reason:
            push_for_visitor_message(conversation, first)
        conversation.preview = attach(event, ids, visitor)
        moved = auto_move(conversation, stages.after_customer_reply(conversation.stage),
                          "the customer replied")
        conversation.reply_by_email = reply_by_email
        conversation.waiting_since = conversation.waiting_since or event.created_at
        if ids:
            with connection.cursor() as cursor:
                cursor.execute(_AFTER_VISITOR_MESSAGE, [
                    conversation.preview, conversation.reply_by_email,
                    connection.ops.adapt_datetimefield_value(conversation.waiting_since),
                    conversation.pk])
        publish(conversation, *[e for e in (event, woken, routed, moved) if e is not None])
    return Posted(event, duplicate=False)


def route_new_conversation(conversation: Conversation, text: str,
                           opening: Opening) -> Event | None:
    """D8: the first matching rule's operator or group gets the new conversation; without a
    match, the default owner of the visitor's customer org; else it stays in the pool (every
    online operator, first to claim). The rules are read only when the company has some."""


    rule = None
    if opening.has_rules:
        rule = first_match(RoutingRule.objects.filter(company_id=conversation.company_id)
                           .select_related("target_user", "target_group"), text)
    url = f"/inbox/{conversation.pk}/"
    if rule is None:
        owner = opening.default_owner
        if owner is None:
            return None  # the pool
        Conversation.objects.filter(pk=conversation.pk).update(assignee=owner)
        conversation.assignee = owner
        title = f"New conversation from your customer: {text[:80]}"
        do_notify(company_id=conversation.company_id, user_ids=[owner.pk], kind="routed",
                  title=title, url=url,
                  **alert_email(conversation.company_id, [owner.pk], "routed", title, url))
        return append_event(conversation, kind=EventKind.ROUTED, sender=Sender.SYSTEM,
                            body=f"Routed to {display_name(owner)} (the customer org's owner)")
    if rule.target_user is not None:
        if not Membership.objects.filter(company_id=conversation.company_id,
                                         user=rule.target_user).exists():
            return None  # the operator left the company: the pool takes it
        Conversation.objects.filter(pk=conversation.pk).update(assignee=rule.target_user)
        conversation.assignee = rule.target_user
        target, people = display_name(rule.target_user), [rule.target_user.pk]
    else:
        group = rule.target_group
        assert group is not None
        Conversation.objects.filter(pk=conversation.pk).update(group=group)
        conversation.group = group
        target, people = f"the {group.name} group", list(
            group.members.values_list("pk", flat=True))
    title = f"New conversation for {target}: {text[:80]}"
    do_notify(company_id=conversation.company_id, user_ids=people, kind="routed",
              title=title, url=url,
              **alert_email(conversation.company_id, people, "routed", title, url))
    return append_event(conversation, kind=EventKind.ROUTED, sender=Sender.SYSTEM,
                        body=f"Routed to {target} (rule: {rule.name})")


def do_leave_offline_message(visitor: Visitor, *, client_id: object, body: object,
                             email: object, ip: str = "", honeypot: object = None) -> Posted:
    """C6: nobody is there. Keep the visitor's address and message, tell the team (console
    and e-mail); the operators' replies will be e-mailed to that address."""
    if not isinstance(email, str) or len(email) > 254:
        raise ConversationError("invalid_email", "Give an e-mail address we can answer to.")
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ConversationError("invalid_email",
                                "Give an e-mail address we can answer to.") from None
    with transaction.atomic():
        Visitor.objects.filter(pk=visitor.pk).update(email=email)
        visitor.email = email
        do_claim_email(visitor, email)  # an unverified claim: never merged into a verified one
        posted = do_post_visitor_message(visitor, client_id=client_id, body=body, offline=True,
                                         ip=ip, honeypot=honeypot)
        suspended = Conversation.objects.filter(pk=posted.event.conversation_id,
                                                stage=Stage.SUSPENDED).exists()
        if not posted.duplicate and not suspended:
            _notify_offline_message(visitor, posted.event)
    return posted


def _notify_offline_message(visitor: Visitor, event: Event) -> None:
    company_id = visitor.widget.company_id
    members = Membership.objects.filter(company_id=company_id).values_list("user_id", flat=True)
    url = f"/inbox/{event.conversation_id}/"
    do_notify(company_id=company_id, user_ids=list(members), kind="offline_message",
              title=f"New message from {visitor.email}", body=event.body[:500], url=url,
              email_template="offline_message",
              email_context={"visitor_email": visitor.email, "body": event.body,
                             "widget": visitor.widget.name, "url": url})


EMAIL_CC_MAX = 10
EMAIL_SUBJECT_MAX = 200


def check_email_options(email: object) -> tuple[list[str], str]:
    """A reply by e-mail's options from the composer (F6, C7): its Cc addresses and, on the
    first mail of a conversation with none yet, its subject."""
    if email is None:
        return [], ""
    if not isinstance(email, dict):
        raise ConversationError("invalid_email_options", "email must be an object.")
    cc, subject = email.get("cc", []), email.get("subject", "")
    if not isinstance(cc, list) or len(cc) > EMAIL_CC_MAX:
        raise ConversationError("invalid_cc", f"Cc is a list of at most {EMAIL_CC_MAX} addresses.")
    addresses = []
    for address in cc:
        try:
            if not isinstance(address, str) or len(address) > 254:
                raise ValidationError("not an address")
            validate_email(address.strip())
        except ValidationError:
            raise ConversationError("invalid_cc", f"Not an e-mail address: {str(address)[:80]}"
                                    ) from None
        addresses.append(address.strip().lower())
    if not isinstance(subject, str) or len(subject) > EMAIL_SUBJECT_MAX:
        raise ConversationError("invalid_subject",
                                f"A subject is at most {EMAIL_SUBJECT_MAX} characters.")
    return list(dict.fromkeys(addresses)), " ".join(subject.split())


def do_post_operator_message(
    membership: Membership, conversation: Conversation, *, client_id: object, body: object,
    attachments: object = None, email: object = None,
) -> Posted:
    """The serving operator replies. Replying to a waiting conversation claims it first.
    `email`: {"cc": [...], "subject": "..."} for a conversation answered by e-mail."""
    ids = check_attachments(attachments)
    text, cid = check_message(body, client_id, ids)
    cc, subject = check_email_options(email)
    html = team_html(text)
    user = membership.user
    try:
        with transaction.atomic():
            locked = lock_conversation(conversation.pk)
            resent = operator_resend(locked, cid, user, EventKind.MESSAGE, text, ids)
            if resent is not None:
                return resent
            check_communication(locked.company_id, operator=True)
            claimed = None
            if locked.assignee_id is None:
                check_group(locked, membership)
                claimed = claim_unassigned(locked, user)
            elif locked.assignee_id != user.pk:
                raise served_by_other(locked)
            event = append_event(locked, kind=EventKind.MESSAGE, sender=Sender.OPERATOR,
                                 author=user, body=text, client_id=cid, html=html)
            locked.preview = attach(event, ids, user)
            locked.waiting_since = None  # the team has answered
            Conversation.objects.filter(pk=locked.pk).update(preview=locked.preview,
                                                             waiting_since=None)
            moved = auto_move(locked, stages.after_team_reply(locked.stage), "the team replied")
            if locked.reply_by_email and locked.visitor.email:
                channels.send_reply(locked, event, cc=cc, subject=subject)
            publish(locked, *[e for e in (claimed, event, moved) if e is not None])
    except IntegrityError:
        # Only a concurrent resend of the same client id gets here: return the stored one.
        existing = existing_message(conversation, Sender.OPERATOR, cid)
        if existing is None:
            raise
        return answer_resend(existing, EventKind.MESSAGE, text, ids)
    return Posted(event, duplicate=False)


def do_record_receipt(conversation_id: int, *, side: str, delivered: object = None,
                      read: object = None) -> dict[str, int] | None:
    """Raise a side's delivered/read marks (never lower them, never past the last event).
    Returns the new marks when something changed (and publishes them), else None."""
    marks = {"delivered": delivered, "read": read}
    changed = False
    with transaction.atomic():
        last_seq = Conversation.objects.values_list("last_seq", flat=True).get(pk=conversation_id)
        for mark, value in marks.items():
            if not is_id(value) or value <= 0:
                continue
            value = min(value, last_seq)
            column = f"{side}_{mark}_seq"
            changed |= bool(Conversation.objects.filter(
                pk=conversation_id, **{f"{column}__lt": value}).update(**{column: value}))
        if not changed:
            return None
        conversation = Conversation.objects.get(pk=conversation_id)
        state = receipts(conversation)
        publish_after_commit(conversation_topic(conversation_id),
                             {"type": "receipt", "conversation": conversation_id, **state})
    return state
