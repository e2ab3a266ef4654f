"""The statements every message runs, written by hand, each beside its definition.

A message's cost on the busiest path (bench/README.md, "End to end" and "burst") is mostly
Python building queries: Django built the sequence number's UPDATE, the event's INSERT and the
current conversation's locked read anew for every message. So two functions run fixed SQL
on the hot cursor (`lib/rows.hot_cursor`: prepared once per connection on PostgreSQL):

- `append_event`: the conversation's next sequence number and the event with it (one
  statement on PostgreSQL, two on SQLite). Every writer in `conversations/actions/` stores
  its events through it.
- `locked_current`: the visitor's current conversation, locked, with the id of a message
  already stored under the client id (a resend) and the tags its summary shows.
- `locked_conversation`: a conversation by id, locked, with what its writers and its summary
  read (assignee, group, widget and company, visitor, tags): every writer but the visitor's
  message locks through it (`actions/core.lock_conversation`); Django built its five-table
  select_related anew each time, and the summary read the tags after it (a bulk action of
  500 rows spent more than half its CPU there, bench/bulk_resolve.py).

Each has its ORM version beside it (`append_event_orm`, `locked_current_orm`,
`locked_conversation_orm`): the
executable definition of what the SQL must do. `tests/test_hot_path.py` runs both on the same
data, on both databases, and compares what they store and return; change them together.
The first message's statements have theirs in `first_message.py`.
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from plug2support.accounts.models import Company, User
from plug2support.lib.rows import RowReader, current_connection, hot_cursor
from plug2support.widgets.models import Visitor, Widget

from .inbox import tags_from_json, tags_json_sql
from .models import (
    STAFF_ONLY_KINDS,
    Conversation,
    Event,
    EventKind,
    OperatorGroup,
    Sender,
    Stage,
)

# One statement takes the next sequence number (every message runs it: written by hand, the
# ORM has no UPDATE … RETURNING; PostgreSQL and SQLite ≥ 3.35 both have it).
_NEXT_SEQ = (f"UPDATE {Conversation._meta.db_table} SET last_seq = last_seq + 1, "  # noqa: S608
             "updated_at = %s WHERE id = %s RETURNING last_seq")  # (our table name; values bound)
# The same for a visitor's message without attachments, which also sets the inbox preview
# and the waiting time in the same statement (one statement less on the busiest path).
_NEXT_SEQ_VISITOR_MESSAGE = (
    f"UPDATE {Conversation._meta.db_table} SET last_seq = last_seq + 1, "  # noqa: S608
    "last_customer_seq = last_seq + 1, "
    "updated_at = %s, preview = %s, reply_by_email = %s, "
    "waiting_since = COALESCE(waiting_since, %s) WHERE id = %s RETURNING last_seq")
# A customer's other messages (with attachments, by e-mail) are unread news for the team
# too (M7): the same number in last_customer_seq (SET reads the row as it was).
_NEXT_SEQ_CUSTOMER = (
    f"UPDATE {Conversation._meta.db_table} SET last_seq = last_seq + 1, "  # noqa: S608
    "last_customer_seq = last_seq + 1, updated_at = %s WHERE id = %s RETURNING last_seq")


# Every event is inserted by this statement (the ORM's create built it anew each time: a
# tenth of a visitor message's cost, bench/README.md).
_EVENT_COLUMNS = ("(conversation_id, seq, kind, sender, author_id, body, client_id, "
                  "staff_only, html, created_at)")
_INSERT_EVENT = (f"INSERT INTO {Event._meta.db_table} {_EVENT_COLUMNS} "  # noqa: S608
                 "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id")


def _numbered_insert(next_seq: str) -> str:
    """PostgreSQL: the sequence number and the event in one statement, a round trip less a
    message (a writable WITH; SQLite has none). VALUES, not SELECT, so each parameter takes
    its column's type; the WITH runs once, and the row it locked is the caller's."""
    return (f"WITH n AS ({next_seq}) INSERT INTO {Event._meta.db_table} {_EVENT_COLUMNS} "  # noqa: S608
            "VALUES (%s, (SELECT last_seq FROM n), %s, %s, %s, %s, %s, %s, %s, %s) "
            "RETURNING id, seq")


_NUMBERED_INSERT = _numbered_insert(_NEXT_SEQ)
_NUMBERED_VISITOR_MESSAGE = _numbered_insert(_NEXT_SEQ_VISITOR_MESSAGE)
_NUMBERED_CUSTOMER = _numbered_insert(_NEXT_SEQ_CUSTOMER)


def append_event(conversation: Conversation, *, kind: str, sender: str, author: User | None = None,
                 body: str = "", client_id: str | None = None,
                 visitor_message: tuple[str, bool] | None = None,
                 html: str | None = None) -> Event:
    """Store the next event of a locked conversation (the caller's transaction).
    `visitor_message`: (preview, reply_by_email) of a visitor's message, set with the
    sequence number (`_NEXT_SEQ_VISITOR_MESSAGE`). `html`: the team's Markdown rendered
    (Event.html). As `append_event_orm`."""
    # The UPDATE takes the row's write lock (PostgreSQL) inside the caller's transaction;
    # SQLite runs write transactions one at a time (transaction_mode=IMMEDIATE).
    connection = current_connection()
    now = timezone.now()
    stamp = connection.ops.adapt_datetimefield_value(now)
    staff_only = kind in STAFF_ONLY_KINDS
    customer = sender == Sender.VISITOR and kind == EventKind.MESSAGE
    if visitor_message is None:
        next_seq, numbered = ((_NEXT_SEQ_CUSTOMER, _NUMBERED_CUSTOMER) if customer
                              else (_NEXT_SEQ, _NUMBERED_INSERT))
        seq_params = [stamp, conversation.pk]
    else:
        next_seq, numbered = _NEXT_SEQ_VISITOR_MESSAGE, _NUMBERED_VISITOR_MESSAGE
        seq_params = [stamp, *visitor_message, stamp, conversation.pk]
    event_params = [kind, sender, author.pk if author else None, body, client_id, staff_only,
                    html, stamp]
    with hot_cursor(connection) as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(numbered, [*seq_params, conversation.pk, *event_params])
            event_id, seq = cursor.fetchone()
        else:
            cursor.execute(next_seq, seq_params)
            seq = cursor.fetchone()[0]
            cursor.execute(_INSERT_EVENT, [conversation.pk, seq, *event_params])
            event_id = cursor.fetchone()[0]
    conversation.last_seq = seq
    if customer:
        conversation.last_customer_seq = seq
    conversation.updated_at = now
    event = Event(id=event_id, conversation=conversation, seq=seq, kind=kind, sender=sender,
                  author=author, body=body, client_id=client_id, staff_only=staff_only,
                  html=html, created_at=now)
    event._state.adding, event._state.db = False, connection.alias
    return event


_CONVERSATION_ROW = RowReader(Conversation)
_ASSIGNEE_ROW = RowReader(User, ["id", "name", "email"])
_GROUP_ROW = RowReader(OperatorGroup, ["id", "name"])
_current_sql: dict[str, str] = {}


def _current_statement(connection: BaseDatabaseWrapper) -> str:
    """Written by hand and kept per database: Django built this query (a lock, two joins, a
    subquery) anew for every visitor message, a third of the message's CPU."""
    sql = _current_sql.get(connection.vendor)
    if sql is None:
        lock = " FOR UPDATE OF c" if connection.features.has_select_for_update_of else ""
        sql = (
            f"SELECT {_CONVERSATION_ROW.columns('c', connection)}, "  # noqa: S608
            f"{_ASSIGNEE_ROW.columns('u', connection)}, {_GROUP_ROW.columns('g', connection)}, "
            f"(SELECT e.id FROM {Event._meta.db_table} e WHERE e.conversation_id = c.id "
            f"AND e.sender = %s AND e.client_id = %s), ({tags_json_sql('c.id')}) "
            f"FROM {Conversation._meta.db_table} c "
            f"LEFT JOIN {User._meta.db_table} u ON u.id = c.assignee_id "
            f"LEFT JOIN {OperatorGroup._meta.db_table} g ON g.id = c.group_id "
            f"WHERE c.visitor_id = %s AND c.stage <> %s "
            f"ORDER BY c.created_at DESC, c.id DESC LIMIT 1{lock}")
        _current_sql[connection.vendor] = sql
    return sql


def locked_current(visitor: Visitor, client_id: str) -> tuple[Conversation | None, int | None]:
    """`actions.visitors.current_conversation`, locked, with the id of the visitor's message
    already stored under `client_id` in it (a resend) and its tags for the summary, in one
    statement: every visitor message runs it. None also when it was archived while we waited
    for the lock: the caller then takes the slow path. The visitor and its widget are the
    caller's."""
    connection = current_connection()
    with hot_cursor(connection) as cursor:
        cursor.execute(_current_statement(connection),
                       [Sender.VISITOR, client_id, visitor.pk, Stage.ARCHIVED])
        row = cursor.fetchone()
    if row is None:
        return None, None
    ends = len(_CONVERSATION_ROW), len(_CONVERSATION_ROW) + len(_ASSIGNEE_ROW)
    conversation = _CONVERSATION_ROW.read(row[:ends[0]], connection)
    assignee_values, group_values = row[ends[0]:ends[1]], row[ends[1]:-2]
    conversation.assignee = (_ASSIGNEE_ROW.read(assignee_values, connection)
                             if assignee_values[0] is not None else None)
    conversation.group = (_GROUP_ROW.read(group_values, connection)
                          if group_values[0] is not None else None)
    conversation.summary_tags = tags_from_json(row[-1])  # type: ignore[attr-defined]
    conversation.visitor = visitor
    conversation.widget = visitor.widget
    return conversation, row[-2]


_WIDGET_ROW = RowReader(Widget)
_COMPANY_ROW = RowReader(Company)
_VISITOR_ROW = RowReader(Visitor)
_WIDGET_COMPANY = Widget._meta.get_field("company")
_VISITOR_WIDGET = Visitor._meta.get_field("widget")
_locked_sql: dict[str, str] = {}


def _locked_statement(connection: BaseDatabaseWrapper) -> str:
    sql = _locked_sql.get(connection.vendor)
    if sql is None:
        lock = " FOR UPDATE OF c" if connection.features.has_select_for_update_of else ""
        sql = (
            f"SELECT {_CONVERSATION_ROW.columns('c', connection)}, "  # noqa: S608
            f"{_ASSIGNEE_ROW.columns('u', connection)}, {_GROUP_ROW.columns('g', connection)}, "
            f"{_WIDGET_ROW.columns('w', connection)}, {_COMPANY_ROW.columns('co', connection)}, "
            f"{_VISITOR_ROW.columns('v', connection)}, ({tags_json_sql('c.id')}) "
            f"FROM {Conversation._meta.db_table} c "
            f"JOIN {Widget._meta.db_table} w ON w.id = c.widget_id "
            f"JOIN {Company._meta.db_table} co ON co.id = w.company_id "
            f"JOIN {Visitor._meta.db_table} v ON v.id = c.visitor_id "
            f"LEFT JOIN {User._meta.db_table} u ON u.id = c.assignee_id "
            f"LEFT JOIN {OperatorGroup._meta.db_table} g ON g.id = c.group_id "
            f"WHERE c.id = %s{lock}")
        _locked_sql[connection.vendor] = sql
    return sql


def locked_conversation(conversation_id: int) -> Conversation:
    """The conversation, its row locked for the caller's transaction, with its assignee and
    group (the names a summary shows), widget and company, visitor and tags (for the
    summary: a writer that changes the tags sets `summary_tags` to None). As
    `locked_conversation_orm`; Conversation.DoesNotExist when there is none."""
    connection = current_connection()
    with hot_cursor(connection) as cursor:
        cursor.execute(_locked_statement(connection), [conversation_id])
        row = cursor.fetchone()
    if row is None:
        raise Conversation.DoesNotExist(f"no conversation {conversation_id}")
    readers = (_CONVERSATION_ROW, _ASSIGNEE_ROW, _GROUP_ROW, _WIDGET_ROW, _COMPANY_ROW,
               _VISITOR_ROW)
    parts, start = [], 0
    for reader in readers:
        parts.append(row[start:start + len(reader)])
        start += len(reader)
    conversation = _CONVERSATION_ROW.read(parts[0], connection)
    conversation.assignee = (_ASSIGNEE_ROW.read(parts[1], connection)
                             if parts[1][0] is not None else None)
    conversation.group = (_GROUP_ROW.read(parts[2], connection)
                          if parts[2][0] is not None else None)
    widget = _WIDGET_ROW.read(parts[3], connection)
    _WIDGET_COMPANY.set_cached_value(widget, _COMPANY_ROW.read(parts[4], connection))
    visitor = _VISITOR_ROW.read(parts[5], connection)
    if visitor.widget_id == widget.pk:
        _VISITOR_WIDGET.set_cached_value(visitor, widget)
    conversation.widget, conversation.visitor = widget, visitor
    conversation.summary_tags = tags_from_json(row[-1])  # type: ignore[attr-defined]
    return conversation


def locked_conversation_orm(conversation_id: int) -> Conversation:
    """What `locked_conversation` does, in the ORM (its definition)."""
    conversation = (Conversation.objects.select_for_update(of=("self",))
                    .select_related("assignee", "widget__company", "visitor", "group")
                    .get(pk=conversation_id))
    conversation.summary_tags = [  # type: ignore[attr-defined]
        {"id": link.tag_id, "name": link.tag.name, "value": link.value}
        for link in conversation.tag_links.select_related("tag").order_by("pk")]
    return conversation


def append_event_orm(conversation: Conversation, *, kind: str, sender: str,
                     author: User | None = None, body: str = "", client_id: str | None = None,
                     visitor_message: tuple[str, bool] | None = None,
                     html: str | None = None) -> Event:
    """What `append_event` does, in the ORM (its definition; a statement or two more)."""
    now = timezone.now()
    changes: dict[str, object] = {"last_seq": F("last_seq") + 1, "updated_at": now}
    customer = sender == Sender.VISITOR and kind == EventKind.MESSAGE
    if customer:
        changes["last_customer_seq"] = F("last_seq") + 1
    if visitor_message is not None:
        preview, reply_by_email = visitor_message
        changes |= {"preview": preview, "reply_by_email": reply_by_email,
                    "waiting_since": Coalesce("waiting_since", Value(now))}
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    seq = Conversation.objects.values_list("last_seq", flat=True).get(pk=conversation.pk)
    event = Event(conversation=conversation, seq=seq, kind=kind, sender=sender, author=author,
                  body=body, client_id=client_id, staff_only=kind in STAFF_ONLY_KINDS, html=html)
    event.save()
    Event.objects.filter(pk=event.pk).update(created_at=now)  # one clock for both rows
    event.created_at = now
    conversation.last_seq = seq
    if customer:
        conversation.last_customer_seq = seq
    conversation.updated_at = now
    return event


def locked_current_orm(visitor: Visitor,
                       client_id: str) -> tuple[Conversation | None, int | None]:
    """What `locked_current` does, in the ORM (its definition)."""
    resend = Event.objects.filter(conversation=OuterRef("pk"), sender=Sender.VISITOR,
                                  client_id=client_id).values("pk")
    conversation = (Conversation.objects.select_for_update(of=("self",))
                    .filter(visitor=visitor).exclude(stage=Stage.ARCHIVED)
                    .select_related("assignee", "group")
                    .annotate(resent_id=Subquery(resend))
                    .order_by("-created_at", "-id").first())
    if conversation is None:
        return None, None
    conversation.summary_tags = [  # type: ignore[attr-defined]
        {"id": link.tag_id, "name": link.tag.name, "value": link.value}
        for link in conversation.tag_links.select_related("tag").order_by("pk")]
    conversation.visitor = visitor
    conversation.widget = visitor.widget
    return conversation, conversation.resent_id  # type: ignore[attr-defined]
