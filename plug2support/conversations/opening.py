"""A visitor's first message opens a conversation: its reads and its writes in fixed SQL.

Through the ORM a first message built thirteen queries (the visitor's lock, its current
conversation again, the spam filter's count, its contact for the priority and again for the
default owner, the routing rules, the insert, the new row read back locked, its tags): 7.9
ms of Python a message against 0.7 ms for the next one, which runs on fixed SQL
(`actions._locked_current`). The sockets' database work shares one core's worth of Python
(the GIL), so 200 visitors writing at once waited for 200 × 8 ms: acks p99 2.6 s
(bench/README.md, burst). Here the same decisions come from the visitor's lock, one read,
and one statement writing the conversation with its first event (two on SQLite), each
prepared once per connection on PostgreSQL (`lib/rows.hot_cursor`).

Only `actions.do_post_visitor_message` calls this, inside its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.backends.base.base import BaseDatabaseWrapper

from plug2support.accounts.models import Membership, User
from plug2support.contacts.actions import priority_for_org
from plug2support.contacts.models import Contact, CustomerOrg, VisitorContact
from plug2support.lib.rows import RowReader, RowWriter, current_connection, hot_cursor, stored
from plug2support.widgets.models import Visitor

from .models import STAFF_ONLY_KINDS, Conversation, Event, EventKind, RoutingRule, Sender, Stage

# The spam filter's "new conversations from this visitor" window (spam.suspicion).
RECENT = timedelta(days=1)

_OWNER_ROW = RowReader(User, ["id", "name", "email"])
_CONVERSATION = RowWriter(Conversation)
_FIRST_EVENT = RowWriter(Event, exclude=("conversation",))


@dataclass(frozen=True)
class Opening:
    """What a first message needs to know, read after the visitor's lock."""

    current_id: int | None  # a conversation another tab opened while we waited for the lock
    recent: int  # the visitor's conversations started in the last day (spam filter)
    org_created_at: datetime | None  # the visitor's contact's customer org (D9 priority)
    # That org's default owner, still a member (D8; as contacts.actions.default_owner_for).
    default_owner: User | None
    has_rules: bool  # the company has routing rules (D8): only then are they read

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
    event_columns = f"conversation_id, {_FIRST_EVENT.columns(connection)}"
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
            f"{_OWNER_ROW.columns('u', connection)} "
            f"FROM (SELECT CAST(%s AS BIGINT) AS id) v "
            f"LEFT JOIN {link} vc ON vc.visitor_id = v.id "
            f"LEFT JOIN {contact} ct ON ct.id = vc.contact_id "
            f"LEFT JOIN {org} o ON o.id = ct.org_id "
            f"LEFT JOIN {user} u ON u.id = o.default_owner_id"),
        conversation=_CONVERSATION.sql(connection),
        event=(f"INSERT INTO {event} ({event_columns}) "  # noqa: S608
               f"VALUES (%s, {_FIRST_EVENT.marks()}) RETURNING id"),
        opening=(f"WITH c AS ({_CONVERSATION.sql(connection)}) "  # noqa: S608
                 f"INSERT INTO {event} ({event_columns}) "
                 f"VALUES ((SELECT id FROM c), {_FIRST_EVENT.marks()}) "
                 f"RETURNING conversation_id, id"))
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
        cursor.execute(sql.read, [
            Stage.ARCHIVED, connection.ops.adapt_datetimefield_value(now - RECENT),
            company_id, company_id, visitor.pk])
        row = cursor.fetchone()
    current_id, recent, org_created_at, contact_company, owner_is_member, rules = row[:6]
    if org_created_at is not None:
        org_created_at = _datetime(connection, org_created_at)
    owner = None
    if row[6] is not None and owner_is_member and contact_company == company_id:
        owner = _OWNER_ROW.read(row[6:], connection)
    return Opening(current_id=current_id, recent=recent, org_created_at=org_created_at,
                   default_owner=owner, has_rules=bool(rules))


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
                      now: datetime) -> tuple[Conversation, Event]:
    """The new conversation and its first event, the visitor's message (seq 1), stored as
    the ORM's create and `actions._append` store them. Returned with what the summary reads
    already attached: its widget and visitor, no assignee, group or tags. Nobody else sees
    the new row before the commit: nothing to lock."""
    widget = visitor.widget
    conversation = Conversation(
        company_id=widget.company_id, widget=widget, visitor=visitor, stage=stage,
        priority=priority, last_seq=1, preview=preview, reply_by_email=reply_by_email,
        waiting_since=now, created_at=now, updated_at=now)
    event = Event(conversation=conversation, seq=1, kind=EventKind.MESSAGE,
                  sender=Sender.VISITOR, author=None, body=body, client_id=client_id,
                  staff_only=EventKind.MESSAGE in STAFF_ONLY_KINDS, created_at=now)
    connection = current_connection()
    sql = _sql(connection)
    conversation_params = _CONVERSATION.params(conversation, connection)
    event_params = _FIRST_EVENT.params(event, connection)
    with hot_cursor(connection) as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(sql.opening, [*conversation_params, *event_params])
            conversation.pk, event.pk = cursor.fetchone()
        else:
            cursor.execute(sql.conversation, conversation_params)
            conversation.pk = cursor.fetchone()[0]
            cursor.execute(sql.event, [conversation.pk, *event_params])
            event.pk = cursor.fetchone()[0]
    event.conversation = conversation
    conversation.summary_tags = []  # type: ignore[attr-defined]
    return stored(conversation, connection), stored(event, connection)
