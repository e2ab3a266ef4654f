"""The JSON shapes of conversations and events on the sockets and HTTP (docs/protocol.md)."""

from __future__ import annotations

from typing import Any

from .inbox import summary
from .models import Conversation, Event, TransferRequest
from .people import user_ref


def event_payload(event: Event) -> dict[str, Any]:
    author = event.author if event.author_id else None
    return {
        "type": "event",
        "conversation": event.conversation_id,
        "seq": event.seq,
        "kind": event.kind,
        "sender": event.sender,
        "author": user_ref(author),
        "body": event.body,
        # The team's Markdown as sanitised HTML (Event.html): shown instead of `body` when
        # not null; null for a visitor's message and a system event.
        "html": event.html,
        "client_id": event.client_id,
        "staff_only": event.staff_only,
        # Set by whoever loaded the event (one query per batch: access.events_after).
        "attachments": getattr(event, "attachment_payloads", []),
        "created_at": event.created_at.isoformat(),
        # A message that came or left by e-mail: subject, from, to, cc, the sanitised HTML,
        # the folded quoted text (F5); null for a chat message.
        "email": event.email,
        # A kind's own data (Event.details): a rating's score and comment (K2); else null.
        "details": event.details,
    }


def receipts(conversation: Conversation) -> dict[str, int]:
    return {
        "visitor_delivered": conversation.visitor_delivered_seq,
        "visitor_read": conversation.visitor_read_seq,
        "team_delivered": conversation.team_delivered_seq,
        "team_read": conversation.team_read_seq,
    }


def _tags(conversation: Conversation) -> list[dict[str, Any]]:
    # Read with the conversation when the caller had them (a visitor's message: no query),
    # else from its tag links (prefetched by the lists).
    read: list[dict[str, Any]] | None = getattr(conversation, "summary_tags", None)
    if read is not None:
        return read
    links = conversation.tag_links.all()
    if "tag_links" not in getattr(conversation, "_prefetched_objects_cache", {}):
        # Not prefetched (a writer's locked row): one query with the names, not one a tag.
        links = links.select_related("tag").order_by("pk")
    return [{"id": link.tag_id, "name": link.tag.name, "value": link.value} for link in links]


def conversation_summary(conversation: Conversation) -> dict[str, Any]:
    """The summary (inbox/summary.py: its one list of keys) of a conversation object, from
    what the caller loaded along with it (widget, visitor, assignee, group, tags)."""
    return summary.from_row(summary.row_of(conversation, _tags(conversation)))


def transfer_payload(request: TransferRequest) -> dict[str, object]:
    return {
        "id": request.pk,
        "conversation": request.conversation_id,
        "requested_by": user_ref(request.requested_by),
        "asked_of": user_ref(request.asked_of),
        "status": request.status,
        "created_at": request.created_at.isoformat(),
    }
