"""The view list's live counts (M7): how many conversations wait in each view of
`filters.VIEWS`, for every person of a company at once.

One statement per company, whatever the views and the people: the company's conversations
that are not closed (a count says how many wait; a resolved or archived one waits for
nobody), grouped by the columns that name a personal view's person (the assignee), with one
`COUNT(*) FILTER (WHERE …)` per view, written from the view's own terms (the SQL the
summaries' `views` use). A person's count of a personal view is then their group's, of any
other view the sum: `counts_for` reads it in Python with no query. So a view added to VIEWS
(Snoozed, issue 18) is counted with no change here.

The sockets call this once per company per burst of changes (realtime/endpoints/counts.py);
bench/view_counts.py measures it at 1 000 000 conversations."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from plug2support.lib.rows import hot_cursor

from ..models import COUNTED_STAGES, Conversation, Mention, Stage
from ..stages import GROUPS
from .columns import sql_literal
from .filters import VIEWS

# The stages counted, named positively and as literals: the partial index conv_counts
# (models.py) has the same condition, so the statement reads that index alone (a NOT IN
# would read all of the company's conversations, closed ones too).
assert set(COUNTED_STAGES) == set(Stage.values) - set(GROUPS["closed"]), "counted: not closed"


@dataclass(frozen=True)
class CountRows:
    """The statement's answer: the person columns, the views in VIEWS' order, and one row
    (person values…, count per view…) per group."""

    persons: tuple[str, ...]
    views: tuple[str, ...]
    rows: tuple[tuple[int | None, ...], ...]


def _statement() -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    persons = tuple(dict.fromkeys(v.person for v in VIEWS.values() if v.person))
    counts = []
    for view in VIEWS.values():
        conditions = " AND ".join(f"({term.sql('c')})" for term in view.terms)
        counts.append(f"COUNT(*) FILTER (WHERE {conditions})" if conditions else "COUNT(*)")
    stages = ", ".join(sql_literal(s) for s in COUNTED_STAGES)
    select = ", ".join([*(f"c.{p}" for p in persons), *counts])
    group = f" GROUP BY {', '.join(f'c.{p}' for p in persons)}" if persons else ""
    # Our own table, columns and constants only; the company is bound.
    sql = (f"SELECT {select} FROM {Conversation._meta.db_table} c "  # noqa: S608
           f"WHERE c.company_id = %s AND c.stage IN ({stages}){group}")
    return sql, persons, tuple(VIEWS)


_SQL, _PERSONS, _VIEWS = _statement()


def company_counts(company_id: int) -> CountRows:
    """Every view's count for every person of the company: one statement (prepared: its
    one plan suits every company, the company's stage index)."""
    with hot_cursor(connection) as cursor:
        cursor.execute(_SQL, [company_id])
        rows = tuple(tuple(row) for row in cursor.fetchall())
    return CountRows(_PERSONS, _VIEWS, rows)


def counts_for(counted: CountRows, user_id: int) -> dict[str, int]:
    """One person's counts, by view name, from the company's rows (no query)."""
    width = len(counted.persons)
    result: dict[str, int] = {}
    for index, name in enumerate(counted.views):
        person = VIEWS[name].person if name in VIEWS else None
        column = counted.persons.index(person) if person in counted.persons else None
        result[name] = sum(int(row[width + index] or 0) for row in counted.rows
                           if column is None or row[column] == user_id)
    return result


def unread_mentions(company_id: int, user_id: int) -> int:
    """The Mentions view's count: the person's conversations with a mention not yet seen."""
    return (Mention.objects.filter(company_id=company_id, user_id=user_id, read_at__isnull=True)
            .values("conversation_id").distinct().count())


def counts_frame(counted: CountRows, user_id: int, mentions: int) -> dict[str, object]:
    """The operator socket's `counts` frame (protocol.md §5)."""
    return {"type": "counts", "counts": {**counts_for(counted, user_id), "mentions": mentions}}
