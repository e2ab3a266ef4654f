"""The inbox list (D9, D10): saved views, filters, full-text search, and the order — by
priority, then by how long the customer has waited. One list costs a fixed number of
queries however long it is (the conversations, plus one for their tags)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Model, OuterRef, QuerySet, Subquery, Value
from django.db.models.expressions import RawSQL

from plug2support.accounts.models import Membership, User
from plug2support.lib.ids import id_from
from plug2support.lib.rows import Converters, apply_converters, hot_cursor
from plug2support.widgets.models import Visitor, Widget

from .access import company_conversations, conversations_for
from .models import (
    HIDDEN_FROM_ALL_OPEN,
    INBOX_ORDER,
    Conversation,
    ConversationTag,
    Event,
    OperatorGroup,
    Priority,
    Stage,
    Tag,
)
from .stages import GROUPS

PAGE_SIZE = 100
SEARCH_MAX = 200

# Saved views (D10): a name → a filter on the conversations.
VIEWS: dict[str, str] = {
    "all_open": "All open",
    "needs_my_reply": "Needs my reply",
    "unassigned": "Unassigned",
    "mine": "Mine",
    "all": "All",
}


class InboxError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Filters:
    view: str = "all_open"
    stage: str = ""
    owner: int | None = None  # a user id, or 0 for "nobody"
    tag: int | None = None
    priority: int | None = None
    widget: int | None = None
    q: str = ""

    @classmethod
    def parse(cls, params: Any) -> Filters:
        """From query parameters; anything malformed is refused (never silently ignored)."""
        view = params.get("view") or "all_open"
        if view not in VIEWS:
            raise InboxError(f"Unknown view; one of: {', '.join(VIEWS)}.")
        stage = params.get("stage") or ""
        if stage and stage not in Stage.values:
            raise InboxError(f"Unknown stage; one of: {', '.join(Stage.values)}.")
        q = (params.get("q") or "").strip()
        if len(q) > SEARCH_MAX:
            raise InboxError(f"A search is at most {SEARCH_MAX} characters.")
        numbers: dict[str, int | None] = {}
        for name in ("owner", "tag", "priority", "widget"):
            raw = params.get(name) or ""
            if raw == "":
                numbers[name] = None
            elif (number := id_from(raw)) is not None:  # digits a database column holds
                numbers[name] = number
            else:
                raise InboxError(f"{name} must be a number.")
        if numbers["priority"] is not None and numbers["priority"] not in Priority.values:
            raise InboxError("Unknown priority.")
        return cls(view=view, stage=stage, q=q, **numbers)


OPENING_VIEW = Filters()  # what the inbox shows when an operator opens it: all open, unfiltered


def inbox_page(membership: Membership, filters: Filters,
               limit: int = PAGE_SIZE) -> list[Conversation]:
    conversations = _filtered(conversations_for(membership), membership, filters)
    # The order of the conversations' inbox indexes (models.py), which hand the first page
    # over without sorting the company's conversations, however many it has.
    return list(conversations.order_by(*INBOX_ORDER)[:limit])


def inbox_summaries(membership: Membership, filters: Filters,
                    limit: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """The same page as inbox_page, as conversation summaries read as plain values: one
    query (the rows with their widget, visitor, assignee and group names, and their tags as
    JSON) and no model objects — tests and callers that want Python values. A second query
    for the tags cost a third of the call at 1 000 000 conversations."""
    if connection.vendor == "postgresql":
        return json.loads(inbox_summaries_json(membership, filters, limit))  # type: ignore[no-any-return]
    from .serializers import summary_from_values

    statement = _statement(membership, filters, limit)
    if statement is None:
        return []
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, statement.params)
        rows = cursor.fetchall()
    summaries = []
    for values in rows:
        row = dict(zip(statement.names,
                       apply_converters(list(values), statement.converters, connection),
                       strict=True))
        summaries.append(summary_from_values(row, tags_from_json(row["tag_list"])))
    return summaries


def inbox_summaries_json(membership: Membership, filters: Filters,
                         limit: int = PAGE_SIZE) -> str:
    """inbox_summaries as JSON text, for the JSON list (views.inbox_list) and
    bench/inbox_scale.py. On PostgreSQL the statement builds the JSON itself: shaping 100
    rows into summaries and encoding them was more than half of the call in Python
    (bench/README.md); a test holds its output equal to conversation_summary's."""
    if connection.vendor != "postgresql":
        return json.dumps(inbox_summaries(membership, filters, limit))
    statement = _statement(membership, filters, limit, as_json=True)
    if statement is None:
        return "[]"
    # The view every operator opens on (all open, nothing filtered) is prepared: planning it
    # was a sixth of the call, and its one plan suits every company (the open conversations'
    # partial index, in order, up to the page; _Constant). The others are planned each
    # time: their best plans differ
    # by company and person (a generic plan made the Mine view four times slower,
    # bench/README.md).
    prepared = filters == OPENING_VIEW
    with hot_cursor(connection) if prepared else connection.cursor() as cursor:
        cursor.execute(statement.sql, statement.params)
        (text,) = cursor.fetchone()
    return str(text)


def _iso(column: str) -> str:
    """PostgreSQL: a timestamptz column written as Python's datetime.isoformat() writes an
    aware UTC datetime (the microseconds only when there are some), or NULL."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (f"CASE WHEN {column} IS NULL THEN NULL ELSE "
            f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
            f"mod(date_part('microseconds', {column})::bigint, 1000000) = 0 THEN '' "
            f"ELSE to_char({utc}, '.US') END || '+00:00' END")


def _summaries_json_sql(page_sql: str) -> str:
    """PostgreSQL: the page (`page_sql`, its SUMMARY_VALUES columns) as one JSON array of
    conversation summaries, in the page's order; serializers.summary_from_values in SQL.
    Only our own table names and fixed text go into it; the page's values stay bound."""
    summary = ", ".join([
        "'id', p.id",
        "'widget', json_build_object('id', p.widget_id, 'name', p.widget_name)",
        # widgets.models.visitor_name
        "'visitor', json_build_object('id', p.visitor_id, 'name', "
        "COALESCE(NULLIF(p.visitor_email, ''), 'Visitor #' || p.visitor_id))",
        "'stage', p.stage", "'priority', p.priority",
        f"'waiting_since', {_iso('p.waiting_since')}",
        "'served_by', CASE WHEN p.assignee_id IS NULL THEN NULL ELSE json_build_object("
        "'id', p.assignee_id, 'name', COALESCE(NULLIF(p.assignee_name, ''), "
        "p.assignee_email)) END",
        "'group', CASE WHEN p.group_id IS NULL THEN NULL ELSE json_build_object("
        "'id', p.group_id, 'name', p.group_name) END",
        "'last_seq', p.last_seq",
        "'receipts', json_build_object('visitor_delivered', p.visitor_delivered_seq, "
        "'visitor_read', p.visitor_read_seq, 'team_delivered', p.team_delivered_seq, "
        "'team_read', p.team_read_seq)",
        "'tags', " + _pg_tags_sql(
            "p.id", "json_build_object('id', l.tag_id, 'name', t.name, 'value', l.value)"),
        "'preview', p.preview",
        f"'created_at', {_iso('p.created_at')}", f"'updated_at', {_iso('p.updated_at')}",
    ])
    # models.INBOX_ORDER, which the page's own ORDER BY follows.
    order = ("p.priority DESC, (p.waiting_since IS NULL) ASC, p.waiting_since ASC, "
             "p.updated_at DESC")
    return (f"SELECT COALESCE(json_agg(json_build_object({summary}) ORDER BY {order}), "  # noqa: S608
            f"'[]'::json)::text FROM ({page_sql}) p")


@dataclass(frozen=True)
class _Statement:
    sql: str
    params: tuple[Any, ...]
    names: tuple[str, ...]
    converters: Converters  # Django's, for what the driver gives


# (database, company, user, filters, limit) → the page's compiled statement. Building and
# compiling the query (its subqueries, filters and order) was a third of a call; the same
# inputs always compile to the same statement, so an operator's next look at a view skips it.
_statements: dict[tuple[Any, ...], _Statement] = {}
STATEMENTS_MAX = 1000


def _statement(membership: Membership, filters: Filters, limit: int,
               as_json: bool = False) -> _Statement | None:
    """`as_json` (PostgreSQL): the page as one JSON text (_summaries_json_sql). None: the
    filters match nothing, and there is nothing to run (a search without a word)."""
    from .serializers import SUMMARY_VALUES

    key = (connection.alias, connection.vendor, membership.company_id, membership.user_id,
           filters, limit, as_json)
    found = _statements.get(key)
    if found is not None:
        return found
    page = _filtered(company_conversations(membership), membership, filters)
    if as_json:  # the tags are read by the JSON's own subquery
        query = page.order_by(*INBOX_ORDER).annotate(**_NAMES).values(
            *SUMMARY_VALUES)[:limit].query
    else:
        query = page.order_by(*INBOX_ORDER).annotate(**_NAMES, tag_list=_tags_json()).values(
            *SUMMARY_VALUES, "tag_list")[:limit].query
    compiler = query.get_compiler(connection=connection)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:  # Django knows it matches nothing (QuerySet iteration says [])
        return None
    if as_json:
        sql = _summaries_json_sql(sql)
    # As QuerySet.values() names and converts its columns (ValuesIterable).
    names = tuple(query.selected) if query.selected else (
        *query.extra_select, *query.values_select, *query.annotation_select)
    converters = list(compiler.get_converters([col for col, _, _ in compiler.select]).items())
    statement = _Statement(sql, tuple(params), names, converters)
    if len(_statements) >= STATEMENTS_MAX:
        _statements.clear()
    _statements[key] = statement
    return statement


def _name(model: type[Model], column: str, key: str) -> Subquery:
    return Subquery(model._default_manager.filter(pk=OuterRef(key)).values(column)[:1])


# The names a summary shows, each a one-row subquery rather than a join: PostgreSQL plans a
# five-table join on every call (0.9 ms at 1 000 000 conversations), these in 0.2 ms, and
# each runs only for the page's rows.
_NAMES = {
    "widget_name": _name(Widget, "name", "widget_id"),
    "visitor_email": _name(Visitor, "email", "visitor_id"),
    "assignee_name": _name(User, "name", "assignee_id"),
    "assignee_email": _name(User, "email", "assignee_id"),
    "group_name": _name(OperatorGroup, "name", "group_id"),
}


def _pg_tags_sql(outer_id: str, element: str) -> str:
    """PostgreSQL: the JSON array of `element` (over the link `l` and its tag `t`) for each
    tag of the conversation `outer_id`, in the order they were added."""
    link, tag = ConversationTag._meta.db_table, Tag._meta.db_table
    return (f"(SELECT COALESCE(json_agg({element} ORDER BY l.id), '[]'::json) "  # noqa: S608
            f"FROM {link} l JOIN {tag} t ON t.id = l.tag_id "
            f"WHERE l.conversation_id = {outer_id})")


def tags_json_sql(outer_id: str) -> str:
    """A correlated subquery: the tags ([[id, name, value], …] in the order they were added)
    of the conversation whose id is `outer_id`, as JSON text, on the tag links' conversation
    index. Also used by the visitor's message path (actions._locked_current)."""
    if connection.vendor == "postgresql":
        return _pg_tags_sql(outer_id, "json_build_array(l.tag_id, t.name, l.value)") + "::text"
    link, tag = ConversationTag._meta.db_table, Tag._meta.db_table
    # SQLite aggregates the rows in the order the inner query gives them.
    return (f"SELECT json_group_array(json_array(tag_id, name, value)) FROM ("  # noqa: S608
            f"SELECT l.tag_id, t.name, l.value FROM {link} l JOIN {tag} t "
            f"ON t.id = l.tag_id WHERE l.conversation_id = {outer_id} ORDER BY l.id)")


def tags_from_json(text: str) -> list[dict[str, Any]]:
    if text == "[]":  # most conversations have no tags: no parse
        return []
    return [{"id": tag_id, "name": name, "value": value}
            for tag_id, name, value in json.loads(text)]


def _tags_json() -> RawSQL:
    # Table names are our own; no parameters.
    return RawSQL(tags_json_sql(f"{Conversation._meta.db_table}.id"), [])  # noqa: S611


class _Constant(Value):
    """One of our own constants written into the statement as a literal, not bound. A
    prepared statement's generic plan sees only placeholders, and PostgreSQL uses a partial
    index only where it can prove the index's condition from the query's: with the stages
    bound, the opening view read a company's closed conversations too (87 ms at 40 000
    conversations with 20 open, against 0.7 ms, found in review)."""

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if not (isinstance(self.value, str) and re.fullmatch(r"[a-z_]+", self.value)):
            raise ValueError(f"not a constant to write into SQL: {self.value!r}")
        return f"'{self.value}'", []


def _filtered(conversations: QuerySet[Conversation], membership: Membership,
              filters: Filters) -> QuerySet[Conversation]:
    closed = GROUPS["closed"]
    if filters.view == "all_open":
        # Term by term as in its partial index (models.py), so that both databases use it,
        # and with the stages written into the statement (_Constant): the opening view is
        # prepared, and a generic plan, which sees placeholders, cannot use a partial index.
        for stage in HIDDEN_FROM_ALL_OPEN:
            conversations = conversations.exclude(stage=_Constant(stage.value))
    elif filters.view == "needs_my_reply":
        conversations = conversations.filter(
            assignee_id=membership.user_id, stage__in=(Stage.NEW, Stage.NEEDS_RESPONSE))
    elif filters.view == "unassigned":
        conversations = conversations.filter(assignee__isnull=True).exclude(stage__in=closed)
    elif filters.view == "mine":
        conversations = conversations.filter(assignee_id=membership.user_id)
    if filters.stage:
        conversations = conversations.filter(stage=filters.stage)
    if filters.owner is not None:
        conversations = conversations.filter(
            assignee__isnull=True) if filters.owner == 0 else conversations.filter(
            assignee_id=filters.owner)
    if filters.tag is not None:
        conversations = conversations.filter(tag_links__tag_id=filters.tag)
    if filters.priority is not None:
        conversations = conversations.filter(priority=filters.priority)
    if filters.widget is not None:
        conversations = conversations.filter(widget_id=filters.widget)
    if filters.q:
        conversations = conversations.filter(pk__in=_matching_conversations(filters.q))
    return conversations


WORD = re.compile(r"\w+", re.UNICODE)
# What people wrote, not the system's lines ("joined the conversation").
SEARCHED_KINDS = ("message", "note")


def _matching_conversations(q: str) -> Any:
    """Ids of conversations with a message or note matching every word of `q`."""
    words = WORD.findall(q)[:20]
    if not words:
        return Conversation.objects.none().values("pk")
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        # Words are \w+ only, so the tsquery has no syntax of the user's: every word required,
        # the last one as a prefix (results while typing). The same expression as the GIN
        # index of migration 0008, so the index is used.
        raw = " & ".join(words[:-1] + [words[-1] + ":*"])
        return (Event.objects.filter(kind__in=SEARCHED_KINDS)
                .annotate(doc=SearchVector("body", config="simple"))
                .filter(doc=SearchQuery(raw, config="simple", search_type="raw"))
                .values("conversation_id"))
    # SQLite FTS5: every word quoted (no query syntax of the user's), all required, the last
    # one as a prefix.
    terms = " ".join('"' + w.replace('"', '""') + '"' for w in words) + "*"
    matching = RawSQL("SELECT rowid FROM conversations_event_fts "  # noqa: S611 (bound param)
                      "WHERE conversations_event_fts MATCH %s", [terms])
    return (Event.objects.filter(pk__in=matching, kind__in=SEARCHED_KINDS)
            .values("conversation_id"))

