"""The inbox list (D9, D10): saved views, filters, full-text search, and the order — by
priority, then by how long the customer has waited. One list costs a fixed number of
queries however long it is.

Defined once, read everywhere (docs/architecture.md, "How the inbox is queried"):
`filters.py` the views and filters (the WHERE, and the views a summary says it is in),
`summary.py` the summary's columns (the SELECT, the Python shaping and PostgreSQL's JSON),
`models.INBOX_ORDER` the order (the ORDER BY, its indexes and the summaries' `sort_key`),
`search.py` the search. This module runs them: a page as objects, as plain values, or as
JSON text built by the database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import F, QuerySet
from django.db.models.expressions import RawSQL

from plug2support.accounts.models import Membership
from plug2support.lib.rows import Converters, apply_converters, hot_cursor

from ..access import company_conversations, conversations_for
from ..models import INBOX_ORDER, Conversation, ConversationTag, Tag
from . import summary
from .columns import tags_sql
from .filters import (
    FILTERS,
    OPENING_VIEW,
    SEARCH_MAX,
    VIEW_LABELS,
    VIEWS,
    Filters,
    InboxError,
    filtered,
)
from .search import matching_conversations

__all__ = [
    "FILTERS", "OPENING_VIEW", "PAGE_SIZE", "SEARCH_MAX", "VIEWS", "VIEW_LABELS", "Filters",
    "InboxError", "inbox_page", "inbox_summaries", "inbox_summaries_json", "tags_from_json",
    "tags_json_sql",
]

PAGE_SIZE = 100


def inbox_page(membership: Membership, filters: Filters,
               limit: int = PAGE_SIZE) -> list[Conversation]:
    conversations = _filtered(conversations_for(membership), membership, filters)
    # The order of the conversations' inbox indexes (models.py), which hand the first page
    # over without sorting the company's conversations, however many it has.
    return list(conversations.order_by(*order_of(filters))[:limit])


def order_of(filters: Filters) -> tuple[Any, ...]:
    """INBOX_ORDER, after the soonest service-target due time under sort=time_left (K3)."""
    if filters.sort == "time_left":
        return (F("sla_due_at").asc(nulls_last=True), *INBOX_ORDER)
    return INBOX_ORDER


def inbox_summaries(membership: Membership, filters: Filters,
                    limit: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """The same page as inbox_page, as conversation summaries read as plain values: one
    query (the rows with their widget, visitor, assignee and group names, and their tags as
    JSON) and no model objects — tests and callers that want Python values. A second query
    for the tags cost a third of the call at 1 000 000 conversations."""
    if connection.vendor == "postgresql":
        return json.loads(inbox_summaries_json(membership, filters, limit))  # type: ignore[no-any-return]
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
        row["tags"] = tags_from_json(row.pop("tag_list"))
        summaries.append(summary.from_row(row))
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
    # partial index, in order, up to the page; filters._Constant). The others are planned
    # each time: their best plans differ by company and person (a generic plan made the Mine
    # view four times slower, bench/README.md).
    prepared = filters == OPENING_VIEW
    with hot_cursor(connection) if prepared else connection.cursor() as cursor:
        cursor.execute(statement.sql, statement.params)
        (text,) = cursor.fetchone()
    return str(text)


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
    """`as_json` (PostgreSQL): the page as one JSON text (summary.json_sql). None: the
    filters match nothing, and there is nothing to run (a search without a word)."""
    key = (connection.alias, connection.vendor, membership.company_id, membership.user_id,
           filters, limit, as_json)
    found = _statements.get(key)
    if found is not None:
        return found
    page = _filtered(company_conversations(membership), membership, filters).order_by(
        *order_of(filters)).annotate(**summary.ANNOTATIONS)
    if as_json:  # the tags are read by the JSON's own subquery
        query = page.values(*summary.ROW_NAMES)[:limit].query
    else:
        query = page.annotate(tag_list=_tags_json()).values(
            *summary.ROW_NAMES, "tag_list")[:limit].query
    compiler = query.get_compiler(connection=connection)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:  # Django knows it matches nothing (QuerySet iteration says [])
        return None
    if as_json:
        sql = summary.json_sql(sql, by_time_left=filters.sort == "time_left")
    # As QuerySet.values() names and converts its columns (ValuesIterable).
    names = tuple(query.selected) if query.selected else (
        *query.extra_select, *query.values_select, *query.annotation_select)
    converters = list(compiler.get_converters([col for col, _, _ in compiler.select]).items())
    statement = _Statement(sql, tuple(params), names, converters)
    if len(_statements) >= STATEMENTS_MAX:
        _statements.clear()
    _statements[key] = statement
    return statement


def _filtered(conversations: QuerySet[Conversation], membership: Membership,
              filters: Filters) -> QuerySet[Conversation]:
    conversations = filtered(conversations, membership.user_id, filters)
    if filters.q:
        conversations = conversations.filter(pk__in=matching_conversations(filters.q))
    return conversations


def tags_json_sql(outer_id: str) -> str:
    """A correlated subquery: the tags ([[id, name, value], …] in the order they were added)
    of the conversation whose id is `outer_id`, as JSON text, on the tag links' conversation
    index. Also used by the visitor's message path (hot_path.locked_current)."""
    if connection.vendor == "postgresql":
        return tags_sql(outer_id, "json_build_array(l.tag_id, t.name, l.value)") + "::text"
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
