"""Messages by e-mail (F1, F2, F3): a customer's mail opens or continues a conversation as
a chat message does — the same stages, routing, priority and publishing — with the mail's
details (subject, from/to/cc, sanitised HTML, folded quotes) kept on the event.

The mail channel above (plug2support.mail) parses and threads the message; this writes it.
The message's key (its Message-ID's hash) is its client id: a redelivery into the same
conversation is stored once, by the same constraint that makes a chat resend idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from plug2support.realtime.hub import publish_after_commit
from plug2support.realtime.topics import visitor_topic
from plug2support.widgets.models import Visitor

from .. import stages
from ..first_message import lock_and_read, open_conversation
from ..hot_path import append_event
from ..models import Channel, Conversation, Event, EventKind, Sender, Stage
from .core import Posted, attach, check_communication, existing_message, lock_conversation, publish
from .messages import route_new_conversation
from .snooze import wake_for_customer
from .stages import auto_move


@dataclass(frozen=True)
class IncomingEmail:
    text: str
    client_id: str  # the message's key (F5: a redelivery is stored once)
    subject: str
    details: dict[str, Any]  # Event.email
    attachment_ids: list[object] = field(default_factory=list)
    # Why a new conversation lands in Suspended (a sender writing too many, F3); "" if not.
    suspend_reason: str = ""


def email_body(text: str) -> str:
    """The event's body: the mail's new text, within the message limit (the whole mail stays
    in its HTML and in the raw message kept for audit)."""
    limit = settings.MESSAGE_MAX_CHARS
    text = text.strip()
    if len(text) > limit:
        text = text[:limit - 40].rstrip() + "\n\n[… shortened: the whole mail is kept]"
    return text


def _store_details(event: Event, details: dict[str, Any]) -> None:
    Event.objects.filter(pk=event.pk).update(email=details)
    event.email = details


def do_receive_email(visitor: Visitor, mail: IncomingEmail, *,
                     conversation_id: int | None) -> Posted:
    """Store the customer's mail in `conversation_id` (threaded by the caller) or, when None
    or that conversation is archived, in a new e-mail conversation. Raises ConversationError
    "chat_unavailable" while the company is blocked (H6): the caller keeps the mail."""
    text = email_body(mail.text) or "(no text)"
    # No savepoint of its own: the mail's processing has one a message (mail/queue.py), and
    # a refusal here rolls back to it.
    with transaction.atomic(savepoint=False):
        conversation = None
        if conversation_id is not None:
            conversation = lock_conversation(conversation_id)
            if conversation.stage == Stage.ARCHIVED:
                conversation = None
        if conversation is not None:
            existing = existing_message(conversation, Sender.VISITOR, mail.client_id)
            if existing is not None:
                return Posted(existing, duplicate=True)
        check_communication(visitor.widget.company_id, operator=False)
        if conversation is None:
            return _open(visitor, mail, text)
        event = append_event(conversation, kind=EventKind.MESSAGE, sender=Sender.VISITOR,
                             body=text, client_id=mail.client_id)
        _store_details(event, mail.details)
        woken = wake_for_customer(conversation, "the customer wrote by e-mail")  # M4
        conversation.preview = attach(event, mail.attachment_ids, visitor)
        moved = auto_move(conversation, stages.after_customer_reply(conversation.stage),
                          "the customer replied by e-mail")
        conversation.waiting_since = conversation.waiting_since or event.created_at
        conversation.reply_by_email = True
        Conversation.objects.filter(pk=conversation.pk).update(
            preview=conversation.preview, waiting_since=conversation.waiting_since,
            reply_by_email=True)
        publish(conversation, *[e for e in (event, woken, moved) if e is not None])
    return Posted(event, duplicate=False)


def _open(visitor: Visitor, mail: IncomingEmail, text: str) -> Posted:
    now = timezone.now()
    opening = lock_and_read(visitor, now)
    conversation, event = open_conversation(
        visitor, stage=Stage.SUSPENDED if mail.suspend_reason else Stage.NEW,
        priority=opening.priority(now), body=text, client_id=mail.client_id,
        preview=text[:200], reply_by_email=True, now=now, channel=Channel.EMAIL,
        subject=mail.subject[:255], email=mail.details, listen=opening.listening)
    publish_after_commit(visitor_topic(visitor.pk), {
        "type": "conversation_started", "conversation": {"id": conversation.pk}})
    if mail.suspend_reason:
        routed: Event | None = append_event(
            conversation, kind=EventKind.SUSPECTED, sender=Sender.SYSTEM,
            body=f"Suspended: {mail.suspend_reason}")
    else:
        routed = route_new_conversation(conversation, text, opening)
    preview = attach(event, mail.attachment_ids, visitor)
    if preview != conversation.preview:
        conversation.preview = preview
        Conversation.objects.filter(pk=conversation.pk).update(preview=preview)
    publish(conversation, *[e for e in (event, routed) if e is not None])
    return Posted(event, duplicate=False)
