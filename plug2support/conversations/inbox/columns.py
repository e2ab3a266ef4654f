"""The pieces a conversation summary is written in (summary.py puts them together). Each
piece names the row columns it reads and writes itself twice: as a Python expression over
`row`, a dict of plain values (column → converted value, "tags" included), and as
PostgreSQL over the page's columns (`p.<column>`), which builds the same JSON in the
database. The Python is compiled once (`compiled`): shaping a row costs what a hand-written
function would (interpreting the pieces row by row had made the SQLite list 1.5 ms slower).
A row comes either from the page's statement or from a conversation object (summary.row_of)."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.db.models import DateTimeField, F, Field, Model, OrderBy, OuterRef, Subquery
from django.db.models.lookups import IsNull

from plug2support.widgets.names import generated_name, generated_name_sql

from ..models import Conversation, ConversationTag, Tag

Row = dict[str, Any]


class Piece(ABC):
    """A value of the summary: its row columns, its Python expression, its PostgreSQL SQL."""
    def columns(self) -> Iterator[Column]:
        return iter(())

    @abstractmethod
    def python(self) -> str:
        """The value as Python source (the pieces are compiled once, not read per row)."""
    @abstractmethod
    def sql(self, p: str) -> str:
        """The value in PostgreSQL SQL; `p`: the conversation's table alias."""
    def over_tags(self) -> dict[str, str]:
        """PostgreSQL: aggregates over the conversation's tag links (`l`, their tag `t`) that
        its SQL reads as `pt.<name>`; the page reads every piece's at once (`tags_lateral`)."""
        return {}


def constant(value: Any) -> Any:
    """One of our own constants (a stage's value, a number, a key), checked before it is
    written into SQL or Python source: never anything a user gave."""
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[a-z_]+", value):
        return str(value)  # str(): a stage's Choices member gives its value
    raise ValueError(f"not a constant to write into a statement: {value!r}")


def sql_literal(value: Any) -> str:
    value = constant(value)
    return str(value) if isinstance(value, int) else f"'{value}'"


def py_literal(value: Any) -> str:
    return repr(constant(value))


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def compiled(piece: Piece) -> Callable[[Row], Any]:
    """The piece's Python expression as a function of the row."""
    return _compiled(f"lambda row: {piece.python()}")  # type: ignore[no-any-return]


def reader(columns: tuple[Column, ...]) -> Callable[[Conversation, Any], Row]:
    """A function of a conversation object and its tags: its row of `columns`."""
    items = "".join(f"{column.name!r}: {column.attribute()}, " for column in columns)
    return _compiled(f"lambda c, tags: {{{items}'tags': tags}}")  # type: ignore[no-any-return]


def _compiled(source: str) -> Any:
    # The source is made of our own pieces and checked constants (`constant`) only, never
    # of a value read from a row or given by a user.
    code = compile(source, "<inbox summary>", "eval")
    return eval(code, {"_iso": _iso, "_micros": micros,  # noqa: S307
                       "_generated_name": generated_name})


class Column(Piece):
    """A column of the page's rows."""
    name: str

    def columns(self) -> Iterator[Column]:
        yield self

    def python(self) -> str:
        return f"row[{self.name!r}]"

    def sql(self, p: str) -> str:
        return f"{p}.{self.name}"

    def expression(self) -> Any:
        """What the page's query annotates for it; None: a column of the conversation."""
        return None

    @abstractmethod
    def attribute(self) -> str:
        """A Python expression: its value read from a conversation object `c`."""


class Own(Column):
    """A column of the conversation itself (its attname: `widget_id`, not `widget`)."""
    def __init__(self, name: str) -> None:
        self.name = name

    def attribute(self) -> str:
        return f"c.{constant(self.name)}"


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

    def attribute(self) -> str:
        # The object itself, as the caller loaded it (select_related): no query of its own.
        key, field = constant(self.key), constant(self.field)
        return f"(None if c.{key}_id is None else c.{key}.{field})"


class Time(Piece):
    """A timestamp as Python's `datetime.isoformat()` writes an aware UTC one, or None."""
    def __init__(self, column: Column) -> None:
        self.column = column

    def columns(self) -> Iterator[Column]:
        return self.column.columns()

    def python(self) -> str:
        return f"_iso({self.column.python()})"

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
        self.fields = {constant(key): piece for key, piece in fields.items()}

    def columns(self) -> Iterator[Column]:
        for piece in self.fields.values():
            yield from piece.columns()

    def python(self) -> str:
        return "{" + ", ".join(
            f"{key!r}: {piece.python()}" for key, piece in self.fields.items()) + "}"

    def sql(self, p: str) -> str:
        return "json_build_object(" + ", ".join(
            f"'{key}', {piece.sql(p)}" for key, piece in self.fields.items()) + ")"

    def over_tags(self) -> dict[str, str]:
        return {name: sql for piece in self.fields.values()
                for name, sql in piece.over_tags().items()}


class Unless(Piece):
    """`piece`, or null when `column` is null (nobody serves it, no group)."""
    def __init__(self, column: Column, piece: Piece) -> None:
        self.column, self.piece = column, piece

    def columns(self) -> Iterator[Column]:
        yield from self.column.columns()
        yield from self.piece.columns()

    def python(self) -> str:
        return f"(None if {self.column.python()} is None else {self.piece.python()})"

    def sql(self, p: str) -> str:
        return f"CASE WHEN {self.column.sql(p)} IS NULL THEN NULL ELSE {self.piece.sql(p)} END"


class Either(Piece):
    """The first text, or the second when the first is empty or null (a display name)."""
    def __init__(self, first: Piece, second: Piece) -> None:
        self.first, self.second = first, second

    def columns(self) -> Iterator[Column]:
        yield from self.first.columns()
        yield from self.second.columns()

    def python(self) -> str:
        return f"str({self.first.python()} or {self.second.python()})"

    def sql(self, p: str) -> str:
        return f"COALESCE(NULLIF({self.first.sql(p)}, ''), {self.second.sql(p)})"


class Prefixed(Piece):
    """Fixed text (our own, never a user's) before a value: `Visitor #17`."""
    def __init__(self, text: str, piece: Piece) -> None:
        if not re.fullmatch(r"[A-Za-z #]*", text):
            raise ValueError(f"fixed text only: {text!r}")
        self.text, self.piece = text, piece

    def columns(self) -> Iterator[Column]:
        return self.piece.columns()

    def python(self) -> str:
        return f"({self.text!r} + str({self.piece.python()}))"

    def sql(self, p: str) -> str:
        return f"'{self.text}' || {self.piece.sql(p)}"


class GeneratedName(Piece):
    """A visitor's generated name (widgets/names.py) from its id: "Amber Otter"."""
    def __init__(self, piece: Piece) -> None:
        self.piece = piece

    def columns(self) -> Iterator[Column]:
        return self.piece.columns()

    def python(self) -> str:
        return f"_generated_name({self.piece.python()})"

    def sql(self, p: str) -> str:
        return generated_name_sql(self.piece.sql(p))


def tags_lateral(piece: Piece, p: str) -> str:
    """PostgreSQL: a lateral join giving each row of `p` the aggregates over its tag links
    that `piece` reads (`pt.<name>`): one read of the links for all of them (two correlated
    subqueries, one for the tags and one for their views, cost 0.2 ms a page more)."""
    aggregates = piece.over_tags()
    if not aggregates:
        return ""
    link, tag = ConversationTag._meta.db_table, Tag._meta.db_table
    columns = ", ".join(f"{sql} AS {constant(name)}" for name, sql in aggregates.items())
    return (f" LEFT JOIN LATERAL (SELECT {columns} FROM {link} l "  # noqa: S608 (our own)
            f"JOIN {tag} t ON t.id = l.tag_id WHERE l.conversation_id = {p}.id) pt ON TRUE")


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
    def python(self) -> str:
        return "row['tags']"

    def sql(self, p: str) -> str:
        return "pt.tags"

    def over_tags(self) -> dict[str, str]:
        return {"tags": "COALESCE(json_agg(json_build_object('id', l.tag_id, 'name', t.name, "
                        "'value', l.value) ORDER BY l.id), '[]'::json)"}


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

    def python(self) -> str:
        parts = []
        for name, null_test, descending, is_time in self.terms:
            column = f"row[{name!r}]"
            if null_test:
                number = f"(1 if {column} is None else 0)"
            elif is_time:
                number = f"(0 if {column} is None else _micros({column}))"
            else:
                number = f"({column} or 0)"
            parts.append(f"-{number}" if descending else number)
        return f"[{', '.join(parts)}]"

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
