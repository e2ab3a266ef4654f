"""A visitor's first message opens a conversation: its reads and its insert in fixed SQL.

Through the ORM a first message built thirteen queries (the visitor's lock, its current
conversation again, the spam filter's count, its contact for the priority and again for the
default owner, the routing rules, the insert, the new row read back locked, its tags): 7.9
ms of Python a message against 0.7 ms for the next one, which runs on fixed SQL
(`actions._locked_current`). The sockets' database work shares one core's worth of Python
(the GIL), so 200 visitors writing at once waited for 200 × 8 ms: acks p99 2.6 s
(bench/README.md, burst). Here the same decisions come from three statements — the lock, one
read, the insert — each prepared once per connection on PostgreSQL (`lib/rows.hot_cursor`).

Only `actions.do_post_visitor_message` calls this, inside its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.backends.base.base import BaseDatabaseWrapper

from plug2support.accounts.models import Membership, User
from plug2support.contacts.actions import priority_for_org
from plug2support.contacts.models import Contact, CustomerOrg, VisitorContact
from plug2support.lib.rows import RowReader, RowWriter, current_connection, hot_cursor
from plug2support.widgets.models import Visitor

from .models import Conversation, RoutingRule, Stage

# The spam filter's "new conversations from this visitor" window (spam.suspicion).
RECENT = timedelta(days=1)

_OWNER_ROW = RowReader(User, ["id", "name", "email"])
_CONVERSATION = RowWriter(Conversation)
_statements: dict[str, tuple[str, str]] = {}


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


def _sql(connection: BaseDatabaseWrapper) -> tuple[str, str]:
    """(lock, read), written once per database. Table names are our own; values bound."""
    found = _statements.get(connection.vendor)
    if found is not None:
        return found
    conversation, visitor = Conversation._meta.db_table, Visitor._meta.db_table
    link, contact, org = (VisitorContact._meta.db_table, Contact._meta.db_table,
                          CustomerOrg._meta.db_table)
    member, rule, user = (Membership._meta.db_table, RoutingRule._meta.db_table,
                          User._meta.db_table)
    # SQLite runs every transaction as BEGIN IMMEDIATE: the transaction already holds the
    # one write lock, and there is no row lock to take.
    lock = (f"SELECT id FROM {visitor} WHERE id = %s FOR UPDATE"  # noqa: S608
            if connection.features.has_select_for_update else "")
    # A statement of its own after the lock: on PostgreSQL (READ COMMITTED) a statement sees
    # what was committed before it started, so one opened by another tab while we waited for
    # the lock is seen here, not by the statement that waited.
    read = (
        f"SELECT (SELECT c.id FROM {conversation} c WHERE c.visitor_id = %s "  # noqa: S608
        f"AND c.stage <> %s ORDER BY c.created_at DESC, c.id DESC LIMIT 1), "
        f"(SELECT COUNT(*) FROM {conversation} c WHERE c.visitor_id = %s "
        f"AND c.created_at >= %s), "
        f"o.created_at, ct.company_id, "
        f"(SELECT COUNT(*) FROM {member} m WHERE m.company_id = %s "
        f"AND m.user_id = o.default_owner_id), "
        f"(SELECT COUNT(*) FROM (SELECT 1 FROM {rule} r WHERE r.company_id = %s LIMIT 1) x), "
        f"{_OWNER_ROW.columns('u', connection)} "
        f"FROM (SELECT CAST(%s AS BIGINT) AS visitor_id) v "
        f"LEFT JOIN {link} vc ON vc.visitor_id = v.visitor_id "
        f"LEFT JOIN {contact} ct ON ct.id = vc.contact_id "
        f"LEFT JOIN {org} o ON o.id = ct.org_id "
        f"LEFT JOIN {user} u ON u.id = o.default_owner_id")
    _statements[connection.vendor] = lock, read
    return lock, read


def lock_and_read(visitor: Visitor, now: datetime) -> Opening:
    """Lock the visitor (two tabs' first messages open one conversation: the second finds
    the first's), then read what opening a conversation needs, in one statement."""
    connection = current_connection()
    lock, read = _sql(connection)
    company_id = visitor.widget.company_id
    with hot_cursor(connection) as cursor:
        if lock:
            cursor.execute(lock, [visitor.pk])
            cursor.fetchone()
        cursor.execute(read, [
            visitor.pk, Stage.ARCHIVED, visitor.pk,
            connection.ops.adapt_datetimefield_value(now - RECENT),
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
    field = CustomerOrg._meta.get_field("created_at")
    column = field.get_col(CustomerOrg._meta.db_table)
    for convert in connection.ops.get_db_converters(column) + column.get_db_converters(
            connection):
        value = convert(value, column, connection)
    assert isinstance(value, datetime)
    return value


def insert_conversation(visitor: Visitor, *, stage: str, priority: int) -> Conversation:
    """The new conversation, stored as the ORM's create would store it, with what its
    summary reads already attached (its widget and visitor, no assignee, group or tags)."""
    widget = visitor.widget
    conversation = Conversation(company_id=widget.company_id, widget=widget, visitor=visitor,
                                stage=stage, priority=priority)
    _CONVERSATION.insert(conversation, current_connection())
    conversation.summary_tags = []  # type: ignore[attr-defined]
    return conversation
