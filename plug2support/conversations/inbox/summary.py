"""The conversation summary (protocol.md §1) as one list of its keys and the columns each is
made of. Everything that writes a summary reads this list:

- serializers.conversation_summary, from a conversation object (the sockets' frames, the
  inbox page);
- the inbox list's statement on SQLite: the page's row columns (`ROW`, with the names as
  one-row subqueries), shaped here in Python (`from_row`);
- the same statement on PostgreSQL, wrapped in the JSON-building SQL written from the same
  list (`json_sql`), so the database returns the page's summaries as one JSON text.

A new key is one line in SUMMARY; tests/test_inbox.py holds the three readings equal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..models import INBOX_ORDER, Conversation
from .columns import (
    Column,
    Either,
    GeneratedName,
    Named,
    Obj,
    Own,
    Row,
    SortKey,
    Tags,
    Time,
    Unless,
    compiled,
    reader,
    tags_lateral,
)
from .filters import Views

SORT_KEY = SortKey(INBOX_ORDER)

SUMMARY = Obj(
    id=Own("id"),
    widget=Obj(id=Own("widget_id"), name=Named("widget", "name")),
    # widgets.models.visitor_name
    visitor=Obj(id=Own("visitor_id"),
                name=Either(Named("visitor", "name"), Either(
                    Named("visitor", "email"), GeneratedName(Own("visitor_id")))),
                # The address a mail reply goes to (F6), whatever name the person has.
                email=Named("visitor", "email")),
    stage=Own("stage"),
    channel=Own("channel"),
    subject=Own("subject"),
    priority=Own("priority"),
    waiting_since=Time(Own("waiting_since")),
    # M4: until when it is snoozed (it is out of the open views meanwhile), or null.
    snoozed_until=Time(Own("snoozed_until")),
    # K3: the service target due soonest (plug2support.sla writes both columns): when it is
    # due while running, or null; and {target, policy, due_at, warn_at, paused,
    # remaining_seconds, breached} or null (docs/protocol.md §1).
    sla_due_at=Time(Own("sla_due_at")),
    sla=Own("sla"),
    # serializers.user_ref
    served_by=Unless(Own("assignee_id"), Obj(
        id=Own("assignee_id"), name=Either(Named("assignee", "name"), Named("assignee", "email")))),
    group=Unless(Own("group_id"), Obj(id=Own("group_id"), name=Named("group", "name"))),
    last_seq=Own("last_seq"),
    # The customer's latest message (M7): unread for an operator whose read position
    # (their console's `read` map, protocol.md §5 "seen") is below it.
    last_customer_seq=Own("last_customer_seq"),
    receipts=Obj(visitor_delivered=Own("visitor_delivered_seq"),
                 visitor_read=Own("visitor_read_seq"),
                 team_delivered=Own("team_delivered_seq"),
                 team_read=Own("team_read_seq")),
    tags=Tags(),
    preview=Own("preview"),
    created_at=Time(Own("created_at")),
    updated_at=Time(Own("updated_at")),
    # Where the inbox lists it, and the views it is in: a console places and shows a live
    # summary by these, without an order or view rules of its own.
    sort_key=SORT_KEY,
    views=Views(),
)


def _row_columns() -> tuple[Column, ...]:
    seen: dict[str, Column] = {}
    for column in SUMMARY.columns():
        seen.setdefault(column.name, column)
    return tuple(seen.values())


# The page's row: each column the summary reads, once, in the order of first use.
ROW = _row_columns()
ROW_NAMES = tuple(column.name for column in ROW)
# What the page's query annotates (the names of what a conversation points to).
ANNOTATIONS = {c.name: c.expression() for c in ROW if isinstance(c, Named)}


from_row: Callable[[Row], dict[str, Any]] = compiled(SUMMARY)
"""A summary from a row of ROW's plain values and its `tags` ([{id, name, value}])."""


row_of: Callable[[Conversation, list[dict[str, Any]]], Row] = reader(ROW)
"""The row of a conversation object and its tags, from what the caller loaded with it."""


def json_sql(page_sql: str, by_time_left: bool = False) -> str:
    """PostgreSQL: the page (`page_sql`, with ROW's columns) as one JSON array of
    summaries, in the page's order (models.INBOX_ORDER, which the page's own ORDER BY
    follows). Only our own names and constants go into it; the page's values stay bound."""
    first = "p.sla_due_at ASC NULLS LAST, " if by_time_left else ""  # K3's "time left"
    return (f"SELECT COALESCE(json_agg({SUMMARY.sql('p')} "  # noqa: S608
            f"ORDER BY {first}{SORT_KEY.order_sql('p')}), '[]'::json)::text FROM ({page_sql}) p"
            + tags_lateral(SUMMARY, "p"))
