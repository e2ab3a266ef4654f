"""A visitor's first message opens a conversation: its reads and its writes in fixed SQL.

Through the ORM a first message ran a dozen queries (the visitor's lock, its current
conversation again, the spam filter's count, its contact for the priority and again for the
default owner, the routing rules, the insert, the new row read back locked, its tags): 7.9
ms of Python a message against 0.7 ms for the next one, which runs on fixed SQL
(`hot_path.locked_current`). The sockets' database work shares one core's worth of Python
(the GIL), so 200 visitors writing at once waited for 200 × 8 ms: acks p99 2.6 s
(bench/README.md, burst). Here the same decisions come from the visitor's lock, one read,
and one statement writing the conversation with its first event (two on SQLite), each
prepared once per connection on PostgreSQL (`lib/rows.hot_cursor`).

Only `actions.messages.do_post_visitor_message` calls this, inside its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from plug2support.accounts.models import Membership, User
from plug2support.contacts.actions import priority_for_org
from plug2support.contacts.models import Contact, CustomerOrg, VisitorContact
from plug2support.lib.rows import RowReader, current_connection, hot_cursor
from plug2support.widgets.models import Visitor

from . import lifecycle
from .models import (
    STAFF_ONLY_KINDS,
    Channel,
    Conversation,
    Event,
    EventKind,
    RoutingRule,
    Sender,
    Stage,
)

# The spam filter's "new conversations from this visitor" window (spam.suspicion).
RECENT = timedelta(days=1)

_OWNER_ROW = RowReader(User, ["id", "name", "email"])
# Every column but the key, in the models' order (from_db's), so a field added to either
# model without being written here fails every first message at once.
_CONVERSATION_FIELDS = [f.attname for f in Conversation._meta.concrete_fields]
_EVENT_FIELDS = [f.attname for f in Event._meta.concrete_fields]
_CONVERSATION_COLUMNS = _CONVERSATION_FIELDS[1:]
assert _EVENT_FIELDS[:2] == ["id", "conversation_id"]
_EVENT_COLUMNS = _EVENT_FIELDS[2:]
_WIDGET = Conversation._meta.get_field("widget")
_VISITOR = Conversation._meta.get_field("visitor")
_CONVERSATION_OF_EVENT = Event._meta.get_field("conversation")
_EMAIL_FIELD = Event._meta.get_field("email")


@dataclass(frozen=True)
class Opening:
    """What a first message needs to know, read after the visitor's lock."""

    current_id: int | None  # a conversation another tab opened while we waited for the lock
    recent: int  # the visitor's conversations started in the last day (spam filter)
    org_created_at: datetime | None  # the visitor's contact's customer org (D9 priority)
    # That org's default owner, still a member (D8; as contacts.actions.default_owner_for).
    default_owner: User | None
    has_rules: bool  # the company has routing rules (D8): only then are they read
    # A lifecycle listener would act on the new conversation (lifecycle.open_probes, the
    # SLA policies): only then are the listeners called (`open_conversation(listen=)`).
    listening: bool = True

    def priority(self, now: datetime) -> int:
        """D9, as contacts.actions.priority_hint decides it."""
        return priority_for_org(self.org_created_at, now)


@dataclass(frozen=True)
class _Statements:
    lock: str  # "" on SQLite
    read: str
    conversation: str  # the conversation alone (SQLite), then `event`
    event: str
    opening: str  # PostgreSQL: both in one


_statements: dict[str, _Statements] = {}


def _sql(connection: BaseDatabaseWrapper) -> _Statements:
    """Written once per database. Table names are our own; every value is bound."""
    found = _statements.get(connection.vendor)
    if found is not None:
        return found
    conversation, visitor, event = (Conversation._meta.db_table, Visitor._meta.db_table,
                                    Event._meta.db_table)
    link, contact, org = (VisitorContact._meta.db_table, Contact._meta.db_table,
                          CustomerOrg._meta.db_table)
    member, rule, user = (Membership._meta.db_table, RoutingRule._meta.db_table,
                          User._meta.db_table)
    quote = connection.ops.quote_name
    conversation_columns = ", ".join(map(quote, _CONVERSATION_COLUMNS))
    conversation_marks = ", ".join(["%s"] * len(_CONVERSATION_COLUMNS))
    event_columns = ", ".join(map(quote, ["conversation_id", *_EVENT_COLUMNS]))
    event_marks = ", ".join(["%s"] * len(_EVENT_COLUMNS))
    insert_conversation = (f"INSERT INTO {conversation} ({conversation_columns}) "  # noqa: S608
                           f"VALUES ({conversation_marks}) RETURNING id")
    found = _statements[connection.vendor] = _Statements(
        # SQLite runs every transaction as BEGIN IMMEDIATE: the transaction already holds
        # the one write lock, and there is no row lock to take.
        lock=(f"SELECT id FROM {visitor} WHERE id = %s FOR UPDATE"  # noqa: S608
              if connection.features.has_select_for_update else ""),
        # A statement of its own after the lock: on PostgreSQL (READ COMMITTED) a statement
        # sees what was committed before it started, so a conversation another tab opened
        # while we waited for the lock is seen here, not by the statement that waited.
        read=(
            f"SELECT (SELECT c.id FROM {conversation} c WHERE c.visitor_id = v.id "  # noqa: S608
            f"AND c.stage <> %s ORDER BY c.created_at DESC, c.id DESC LIMIT 1), "
            f"(SELECT COUNT(*) FROM {conversation} c WHERE c.visitor_id = v.id "
            f"AND c.created_at >= %s), "
            f"o.created_at, ct.company_id, "
            f"(SELECT COUNT(*) FROM {member} m WHERE m.company_id = %s "
            f"AND m.user_id = o.default_owner_id), "
            f"(SELECT COUNT(*) FROM (SELECT 1 FROM {rule} r WHERE r.company_id = %s "
            f"LIMIT 1) x), "
            f"{_OWNER_ROW.columns('u', connection)}"
            + "".join(f", ({probe})" for probe in lifecycle.open_probes())
            + " FROM (SELECT CAST(%s AS BIGINT) AS id) v "
            f"LEFT JOIN {link} vc ON vc.visitor_id = v.id "
            f"LEFT JOIN {contact} ct ON ct.id = vc.contact_id "
            f"LEFT JOIN {org} o ON o.id = ct.org_id "
            f"LEFT JOIN {user} u ON u.id = o.default_owner_id"),
        conversation=insert_conversation,
        event=(f"INSERT INTO {event} ({event_columns}) "  # noqa: S608
               f"VALUES (%s, {event_marks}) RETURNING id"),
        opening=(f"WITH c AS ({insert_conversation}) "  # noqa: S608
                 f"INSERT INTO {event} ({event_columns}) "
                 f"VALUES ((SELECT id FROM c), {event_marks}) RETURNING conversation_id, id"))
    return found


def lock_and_read(visitor: Visitor, now: datetime) -> Opening:
    """Lock the visitor (two tabs' first messages open one conversation: the second finds
    the first's), then read what opening a conversation needs, in one statement."""
    connection = current_connection()
    sql = _sql(connection)
    company_id = visitor.widget.company_id
    with hot_cursor(connection) as cursor:
        if sql.lock:
            cursor.execute(sql.lock, [visitor.pk])
            cursor.fetchone()
        probes = len(lifecycle.open_probes())
        cursor.execute(sql.read, [
            Stage.ARCHIVED, connection.ops.adapt_datetimefield_value(now - RECENT),
            company_id, company_id, *[company_id] * probes, visitor.pk])
        row = cursor.fetchone()
    listening = any(row[len(row) - probes:]) if probes else False
    row = row[:len(row) - probes]
    current_id, recent, org_created_at, contact_company, owner_is_member, rules = row[:6]
    if org_created_at is not None:
        org_created_at = _datetime(connection, org_created_at)
    owner = None
    if row[6] is not None and owner_is_member and contact_company == company_id:
        owner = _OWNER_ROW.read(row[6:], connection)
    return Opening(current_id=current_id, recent=recent, org_created_at=org_created_at,
                   default_owner=owner, has_rules=bool(rules), listening=listening)


def _datetime(connection: BaseDatabaseWrapper, value: object) -> datetime:
    """A timestamp column as the ORM reads it (SQLite returns text)."""
    column = CustomerOrg._meta.get_field("created_at").get_col(CustomerOrg._meta.db_table)
    for convert in (connection.ops.get_db_converters(column)
                    + column.get_db_converters(connection)):
        value = convert(value, column, connection)
    assert isinstance(value, datetime)
    return value


def open_conversation(visitor: Visitor, *, stage: str, priority: int, body: str,
                      client_id: str, preview: str, reply_by_email: bool,
                      now: datetime, channel: str = Channel.CHAT,
                      subject: str = "", email: dict[str, Any] | None = None,
                      listen: bool = True) -> tuple[Conversation, Event]:
    """The new conversation and its first event, the visitor's message (seq 1), with the
    values the ORM's create and `hot_path.append_event` would store. Returned with what the
    summary reads already attached: its widget and visitor, no assignee, group or tags.
    `email`: a mail's details (Event.email), stored with the event.
    Nobody else sees the new row before the commit: nothing to lock."""
    widget = visitor.widget
    connection = current_connection()
    sql = _sql(connection)
    stamp = connection.ops.adapt_datetimefield_value(now)
    conversation_values = {
        "company_id": widget.company_id, "widget_id": widget.pk, "visitor_id": visitor.pk,
        "stage": stage, "assignee_id": None, "group_id": None, "last_seq": 1,
        "priority": priority, "waiting_since": now, "visitor_delivered_seq": 0,
        "visitor_read_seq": 0, "team_delivered_seq": 0, "team_read_seq": 0,
        "last_customer_seq": 1,
        "reply_by_email": reply_by_email, "channel": channel, "subject": subject,
        "preview": preview, "snoozed_until": None, "snoozed_by_id": None, "created_at": now,
        "updated_at": now, "sla_due_at": None, "sla": None}
    event_values = {
        "seq": 1, "kind": EventKind.MESSAGE, "sender": Sender.VISITOR, "author_id": None,
        "body": body, "client_id": client_id,
        "staff_only": EventKind.MESSAGE in STAFF_ONLY_KINDS, "email": email, "html": None,
        "details": None,
        "created_at": now}
    # The parameters in the columns' order, the timestamps (`now`) as the database takes them.
    conversation_params = [stamp if value is now else value
                           for value in map(conversation_values.__getitem__,
                                            _CONVERSATION_COLUMNS)]
    event_params = [stamp if value is now else value
                    for value in map(event_values.__getitem__, _EVENT_COLUMNS)]
    if email is not None:  # JSON as the field hands it to this database
        event_params[_EVENT_COLUMNS.index("email")] = _EMAIL_FIELD.get_db_prep_value(
            email, connection)
    with hot_cursor(connection) as cursor:
        if connection.vendor == "postgresql":  # both rows in one statement
            cursor.execute(sql.opening, [*conversation_params, *event_params])
            conversation_id, event_id = cursor.fetchone()
        else:
            cursor.execute(sql.conversation, conversation_params)
            conversation_id = cursor.fetchone()[0]
            cursor.execute(sql.event, [conversation_id, *event_params])
            event_id = cursor.fetchone()[0]
    # Built as the ORM builds what it reads (from_db), the related rows cached as a
    # select_related leaves them: cheaper than a model's keyword constructor and setters.
    alias = connection.alias
    conversation = Conversation.from_db(alias, _CONVERSATION_FIELDS, [
        conversation_id, *map(conversation_values.__getitem__, _CONVERSATION_COLUMNS)])
    _WIDGET.set_cached_value(conversation, widget)
    _VISITOR.set_cached_value(conversation, visitor)
    conversation.summary_tags = []  # type: ignore[attr-defined]
    event = Event.from_db(alias, _EVENT_FIELDS, [event_id, conversation_id, *map(
        event_values.__getitem__, _EVENT_COLUMNS)])
    _CONVERSATION_OF_EVENT.set_cached_value(event, conversation)
    if listen:  # the SLA clocks (K3), when the company has a policy (Opening.listening)
        lifecycle.opened(conversation, now)
    return conversation, event
