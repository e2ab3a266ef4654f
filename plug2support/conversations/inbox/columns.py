"""The pieces a conversation summary is written in (summary.py puts them together). Each
piece reads the row columns it names and gives its value two ways: in Python, from a row
of plain values (a dict of column → converted value, "tags" included), and in PostgreSQL,
as SQL over the page's columns (`p.<column>`), which builds the same JSON in the database.
A row comes either from the page's statement or from a conversation object (`row_of`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.db.models import Field, Model, OuterRef, Subquery

from ..models import Conversation, ConversationTag, Tag

Row = dict[str, Any]


class Piece:
    """A value of the summary: its row columns, its Python reading, its PostgreSQL SQL."""

    def columns(self) -> Iterator[Column]:
        return iter(())

    def value(self, row: Row) -> Any:
        raise NotImplementedError

    def sql(self, p: str) -> str:
        raise NotImplementedError


class Column(Piece):
    """A column of the page's rows."""

    name: str

    def columns(self) -> Iterator[Column]:
        yield self

    def value(self, row: Row) -> Any:
        return row[self.name]

    def sql(self, p: str) -> str:
        return f"{p}.{self.name}"

    def expression(self) -> Any:
        """What the page's query annotates for it; None: a column of the conversation."""
        return None

    def read(self, conversation: Conversation) -> Any:
        raise NotImplementedError


class Own(Column):
    """A column of the conversation itself (its attname: `widget_id`, not `widget`)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def read(self, conversation: Conversation) -> Any:
        return getattr(conversation, self.name)


class Named(Column):
    """A field of the row a foreign key of the conversation points to, read as a one-row
    subquery rather than a join: PostgreSQL plans a five-table join on every call (0.9 ms
    at 1 000 000 conversations), these in 0.2 ms, and each runs only for the page's rows.
    Named `<key>_<field>` in the row (`widget_name`)."""

    def __init__(self, key: str, field: str) -> None:
        self.key, self.field = key, field
        self.name = f"{key}_{field}"

    def expression(self) -> Subquery:
        model: type[Model] = Conversation._meta.get_field(self.key).related_model  # type: ignore[assignment]
        return Subquery(model._default_manager.filter(pk=OuterRef(f"{self.key}_id"))
                        .values(self.field)[:1])

    def read(self, conversation: Conversation) -> Any:
        # The object itself, as the caller loaded it (select_related): no query of its own.
        if getattr(conversation, f"{self.key}_id") is None:
            return None
        return getattr(getattr(conversation, self.key), self.field)


class Time(Piece):
    """A timestamp as Python's `datetime.isoformat()` writes an aware UTC one, or None."""

    def __init__(self, column: Column) -> None:
        self.column = column

    def columns(self) -> Iterator[Column]:
        return self.column.columns()

    def value(self, row: Row) -> Any:
        at = self.column.value(row)
        return at.isoformat() if at is not None else None

    def sql(self, p: str) -> str:
        # The microseconds only when there are some, as isoformat() does.
        column = self.column.sql(p)
        utc = f"({column} AT TIME ZONE 'UTC')"
        return (f"CASE WHEN {column} IS NULL THEN NULL ELSE "
                f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
                f"mod(date_part('microseconds', {column})::bigint, 1000000) = 0 THEN '' "
                f"ELSE to_char({utc}, '.US') END || '+00:00' END")


class Obj(Piece):
    """A JSON object of pieces, in this order."""

    def __init__(self, **fields: Piece) -> None:
        self.fields = fields

    def columns(self) -> Iterator[Column]:
        for piece in self.fields.values():
            yield from piece.columns()

    def value(self, row: Row) -> Any:
        return {key: piece.value(row) for key, piece in self.fields.items()}

    def sql(self, p: str) -> str:
        return "json_build_object(" + ", ".join(
            f"'{key}', {piece.sql(p)}" for key, piece in self.fields.items()) + ")"


class Unless(Piece):
    """`piece`, or null when `column` is null (nobody serves it, no group)."""

    def __init__(self, column: Column, piece: Piece) -> None:
        self.column, self.piece = column, piece

    def columns(self) -> Iterator[Column]:
        yield from self.column.columns()
        yield from self.piece.columns()

    def value(self, row: Row) -> Any:
        return None if self.column.value(row) is None else self.piece.value(row)

    def sql(self, p: str) -> str:
        return f"CASE WHEN {self.column.sql(p)} IS NULL THEN NULL ELSE {self.piece.sql(p)} END"


class Either(Piece):
    """The first text, or the second when the first is empty or null (a display name)."""

    def __init__(self, first: Piece, second: Piece) -> None:
        self.first, self.second = first, second

    def columns(self) -> Iterator[Column]:
        yield from self.first.columns()
        yield from self.second.columns()

    def value(self, row: Row) -> Any:
        return str(self.first.value(row) or self.second.value(row))

    def sql(self, p: str) -> str:
        return f"COALESCE(NULLIF({self.first.sql(p)}, ''), {self.second.sql(p)})"


class Prefixed(Piece):
    """Fixed text (our own, never a user's) before a value: `Visitor #17`."""

    def __init__(self, text: str, piece: Piece) -> None:
        if "'" in text:
            raise ValueError("fixed text only")
        self.text, self.piece = text, piece

    def columns(self) -> Iterator[Column]:
        return self.piece.columns()

    def value(self, row: Row) -> Any:
        return f"{self.text}{self.piece.value(row)}"

    def sql(self, p: str) -> str:
        return f"'{self.text}' || {self.piece.sql(p)}"


def tags_sql(outer_id: str, element: str) -> str:
    """PostgreSQL: the JSON array of `element` (over the link `l` and its tag `t`) for each
    tag of the conversation `outer_id`, in the order they were added."""
    link, tag = ConversationTag._meta.db_table, Tag._meta.db_table
    return (f"(SELECT COALESCE(json_agg({element} ORDER BY l.id), '[]'::json) "  # noqa: S608
            f"FROM {link} l JOIN {tag} t ON t.id = l.tag_id "
            f"WHERE l.conversation_id = {outer_id})")


class Tags(Piece):
    """The conversation's tags ({id, name, value}, in the order they were added): `tags` in
    a row (read by the page's own subquery, or from the object's tag links)."""

    def value(self, row: Row) -> Any:
        return row["tags"]

    def sql(self, p: str) -> str:
        return tags_sql(f"{p}.id",
                        "json_build_object('id', l.tag_id, 'name', t.name, 'value', l.value)")


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    """Microseconds since 1970, exactly (a float of seconds would round them)."""
    return (at - EPOCH) // MICROSECOND


def micros_sql(column: str) -> str:
    # EXTRACT gives numeric seconds with every microsecond (PostgreSQL 14 and later).
    return f"(EXTRACT(EPOCH FROM {column}) * 1000000)::bigint"


class SortKey(Piece):
    """Where a conversation stands in an order of the ORM (`models.INBOX_ORDER`), as a list
    of integers: the list's order is the order of these lists, element by element, smallest
    first. A client places a summary by it without knowing what it is made of. Each term of
    the order is a column (a number or a timestamp, in microseconds; null counts as 0) or
    whether a column is null (1 when it is); descending terms are negated."""

    def __init__(self, order: tuple[Any, ...]) -> None:
        from django.db.models import DateTimeField, F, OrderBy
        from django.db.models.lookups import IsNull

        # (column, is the term "column IS NULL", descending, is a timestamp)
        self.terms: list[tuple[str, bool, bool, bool]] = []
        for term in order:
            if not isinstance(term, OrderBy):
                raise TypeError(f"not an order term: {term!r}")
            expression, null_test = term.expression, False
            if isinstance(expression, IsNull) and expression.rhs is True:
                expression, null_test = expression.lhs, True
            if not isinstance(expression, F):
                raise TypeError(f"an order term the sort key cannot read: {term!r}")
            field = cast("Field[Any, Any]", Conversation._meta.get_field(expression.name))
            self.terms.append((field.attname, null_test, term.descending,
                               isinstance(field, DateTimeField)))

    def columns(self) -> Iterator[Column]:
        for name, *_ in self.terms:
            yield Own(name)

    def value(self, row: Row) -> list[int]:
        key = []
        for name, null_test, descending, is_time in self.terms:
            raw = row[name]
            if null_test:
                number = 1 if raw is None else 0
            elif raw is None:
                number = 0
            else:
                number = micros(raw) if is_time else int(raw)
            key.append(-number if descending else number)
        return key

    def sql(self, p: str) -> str:
        parts = []
        for name, null_test, descending, is_time in self.terms:
            column = f"{p}.{name}"
            if null_test:
                number = f"CASE WHEN {column} IS NULL THEN 1 ELSE 0 END"
            else:
                number = f"COALESCE({micros_sql(column) if is_time else column}, 0)"
            parts.append(f"-({number})" if descending else number)
        return f"json_build_array({', '.join(parts)})"

    def order_sql(self, p: str) -> str:
        """The same order as an ORDER BY over the page's columns."""
        return ", ".join(
            f"({p}.{name} IS NULL) {'DESC' if descending else 'ASC'}" if null_test
            else f"{p}.{name} {'DESC' if descending else 'ASC'}"
            for name, null_test, descending, _ in self.terms)
