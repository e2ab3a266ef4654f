"""What every conversation writer shares: the refusal (`ConversationError`), the
checks of a message, the locked read, resends, attachments, the blocked-company check and
the publishing after commit."""

from __future__ import annotations

from dataclasses import dataclass
from html import unescape

from django.conf import settings
from django.utils.html import strip_tags

from plug2support.accounts.models import User
from plug2support.accounts.policies import communication_block
from plug2support.attachments.actions import attachment_payload, do_attach
from plug2support.knowledge.markdown import render_chat_markdown
from plug2support.lib.errors import Refused
from plug2support.lib.uploads import AttachmentError
from plug2support.realtime.hub import publish_after_commit
from plug2support.realtime.topics import company_topic, conversation_topic, staff_topic
from plug2support.widgets.models import Visitor

from ..hot_path import locked_conversation
from ..models import Conversation, Event, Sender
from ..resend import CLIENT_ID_REUSED, same_message
from ..serializers import conversation_summary, event_payload

CLIENT_ID_MAX = 64


class ConversationError(Refused):
    """A refused request about a conversation. `code` is stable (docs/protocol.md);
    `message` is for people."""


@dataclass(frozen=True)
class Posted:
    event: Event
    duplicate: bool  # True when the client id was already stored: nothing new was written


def check_attachments(attachments: object) -> list[object]:
    if attachments is None:
        return []
    if not isinstance(attachments, list):
        raise ConversationError("bad_attachments", "attachments must be a list of ids.")
    return attachments


def check_message(body: object, client_id: object,
                  attachments: list[object] | None = None) -> tuple[str, str]:
    """A message is text, attachments, or both."""
    if not isinstance(client_id, str) or not (1 <= len(client_id) <= CLIENT_ID_MAX):
        raise ConversationError(
            "invalid_client_id", f"client_id must be a string of 1 to {CLIENT_ID_MAX} characters."
        )
    if body is None and attachments:
        body = ""
    if not isinstance(body, str) or (not body.strip() and not attachments):
        raise ConversationError("empty_message", "A message needs some text.")
    limit = settings.MESSAGE_MAX_CHARS
    if len(body) > limit:
        raise ConversationError(
            "message_too_long", f"A message is at most {limit} characters.", limit=limit
        )
    return body.strip(), client_id


def team_html(text: str) -> str | None:
    """The team's message or note as HTML (issue 18, contract 4: it is Markdown), rendered
    before the writer locks anything; None for a message of files only."""
    return render_chat_markdown(text) if text else None


def preview_text(event: Event) -> str:
    """The inbox's preview of a message: its text, the team's Markdown without its marks
    (the rendered HTML's text: `**soon**` previews as "soon")."""
    html = getattr(event, "html", None)
    if not html:
        return event.body
    return " ".join(unescape(strip_tags(html)).split())


def attach(event: Event, ids: list[object], uploader: Visitor | User) -> str:
    """Attach uploads to a new message (same transaction); returns a preview for the inbox."""
    if not ids:
        event.attachment_payloads = []  # type: ignore[attr-defined]
        return preview_text(event)[:200]
    try:
        attached = do_attach(ids, event=event, uploader=uploader)
    except AttachmentError as error:
        raise ConversationError(error.code, error.message) from None
    event.attachment_payloads = [attachment_payload(a) for a in attached]  # type: ignore[attr-defined]
    return (preview_text(event) or f"Attachment: {attached[0].name}")[:200]


def existing_message(conversation: Conversation, sender: str, client_id: str) -> Event | None:
    return (
        Event.objects.filter(conversation=conversation, sender=sender, client_id=client_id)
        .select_related("author")
        .first()
    )


def answer_resend(existing: Event, kind: str, text: str, ids: list[object]) -> Posted:
    """A stored client id again: the original ack for the same message, else a conflict."""
    if not same_message(existing, kind=kind, text=text, attachments=ids):
        raise ConversationError("client_id_reused", CLIENT_ID_REUSED)
    return Posted(existing, duplicate=True)


def operator_resend(conversation: Conversation, client_id: str, user: User, kind: str,
                    text: str, ids: list[object]) -> Posted | None:
    """The same operator sending the same client id again gets the stored message back."""
    existing = existing_message(conversation, Sender.OPERATOR, client_id)
    if existing is None:
        return None
    if existing.author_id != user.pk:
        raise ConversationError("invalid_client_id", "This client_id is already used.")
    return answer_resend(existing, kind, text, ids)


def publish(conversation: Conversation, *events: Event) -> None:
    """Each event to its topic (team-only ones never to the visitor's), then the summary."""
    for event in events:
        topic = staff_topic if event.staff_only else conversation_topic
        publish_after_commit(topic(conversation.pk), event_payload(event))
    publish_after_commit(
        company_topic(conversation.company_id),
        {"type": "conversation", "conversation": conversation_summary(conversation)},
    )


def lock_conversation(conversation_id: int) -> Conversation:
    """The conversation, locked, with what writers and its summary read (hot_path.py)."""
    return locked_conversation(conversation_id)


def check_communication(company_id: int, *, operator: bool) -> None:
    """H6: a blocked company's widgets take no messages and its operators cannot send
    (a resend of a message stored before the block is still answered: checked after it)."""
    reason = communication_block(company_id)
    if reason is None:
        return
    if operator:
        why = ("the traffic limit of this billing period was exceeded" if reason == "traffic"
               else "the paid period has expired")
        raise ConversationError(
            "communication_blocked",
            f"Sending is blocked because {why}. Conversations stay readable; the billing "
            "page shows how to lift it.", reason=reason)
    raise ConversationError("chat_unavailable", "The chat is unavailable at the moment.")
