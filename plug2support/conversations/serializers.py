"""The JSON shapes of conversations and events on the sockets and HTTP (docs/protocol.md)."""

from __future__ import annotations

from typing import Any

from .models import Conversation, Event


def display_name(user: Any) -> str:
    return str(user.name or user.email)


def user_ref(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "name": display_name(user)}


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
        "client_id": event.client_id,
        "staff_only": event.staff_only,
        # Set by whoever loaded the event (one query per batch: access.events_after).
        "attachments": getattr(event, "attachment_payloads", []),
        "created_at": event.created_at.isoformat(),
    }


def receipts(conversation: Conversation) -> dict[str, int]:
    return {
        "visitor_delivered": conversation.visitor_delivered_seq,
        "visitor_read": conversation.visitor_read_seq,
        "team_delivered": conversation.team_delivered_seq,
        "team_read": conversation.team_read_seq,
    }


def _group(conversation: Conversation) -> dict[str, Any] | None:
    group = conversation.group if conversation.group_id else None
    return None if group is None else {"id": group.pk, "name": group.name}


def _tags(conversation: Conversation) -> list[dict[str, Any]]:
    # Read with the conversation when the caller had them (a visitor's message: no query),
    # else from its tag links (prefetched by the lists).
    read: list[dict[str, Any]] | None = getattr(conversation, "summary_tags", None)
    if read is not None:
        return read
    return [{"id": link.tag_id, "name": link.tag.name, "value": link.value}
            for link in conversation.tag_links.all()]


def conversation_summary(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "widget": {"id": conversation.widget_id, "name": conversation.widget.name},
        "visitor": {"id": conversation.visitor_id, "name": conversation.visitor.display_name},
        "stage": conversation.stage,
        "priority": conversation.priority,
        "waiting_since": conversation.waiting_since.isoformat()
        if conversation.waiting_since else None,
        "served_by": user_ref(conversation.assignee),
        "group": _group(conversation),
        "last_seq": conversation.last_seq,
        "receipts": receipts(conversation),
        "tags": _tags(conversation),
        "preview": conversation.preview,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }


# The columns summary_from_values reads: the conversation's own, and the names of what it
# points to, which inbox.inbox_summaries reads as one-row subqueries (named *_name/*_email).
SUMMARY_VALUES = (
    "id", "widget_id", "widget_name", "visitor_id", "visitor_email", "stage", "priority",
    "waiting_since", "assignee_id", "assignee_name", "assignee_email", "group_id",
    "group_name", "last_seq", "visitor_delivered_seq", "visitor_read_seq",
    "team_delivered_seq", "team_read_seq", "preview", "created_at", "updated_at",
)


def summary_from_values(row: dict[str, Any], tags: list[dict[str, Any]]) -> dict[str, Any]:
    """conversation_summary from a row of SUMMARY_VALUES and its tags ({id, name, value}):
    the same shape (tests/test_inbox.py compares the two on every view)."""
    from plug2support.widgets.models import visitor_name

    waiting_since = row["waiting_since"]
    return {
        "id": row["id"],
        "widget": {"id": row["widget_id"], "name": row["widget_name"]},
        "visitor": {"id": row["visitor_id"],
                    "name": visitor_name(row["visitor_id"], row["visitor_email"])},
        "stage": row["stage"],
        "priority": row["priority"],
        "waiting_since": waiting_since.isoformat() if waiting_since else None,
        "served_by": None if row["assignee_id"] is None else {
            "id": row["assignee_id"],
            "name": str(row["assignee_name"] or row["assignee_email"])},
        "group": None if row["group_id"] is None else {"id": row["group_id"],
                                                        "name": row["group_name"]},
        "last_seq": row["last_seq"],
        "receipts": {
            "visitor_delivered": row["visitor_delivered_seq"],
            "visitor_read": row["visitor_read_seq"],
            "team_delivered": row["team_delivered_seq"],
            "team_read": row["team_read_seq"],
        },
        "tags": tags,
        "preview": row["preview"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }
