"""The inbox's saved views and filters (D10), each defined once: as the WHERE of the page's
query (both databases), and as the names of the views a conversation's summary says it is
in (`views` in the summary: in Python and in PostgreSQL's JSON), so that a console keeps a
live list current without knowing what the views mean (protocol.md §1, §6).

A summary's views are the same for every reader: a personal view (Mine) is named with its
person (`mine:7`: in Alice's Mine when Alice is 7), a filter with its value (`stage:new`,
`owner:0` for nobody, `tag:3`). A list asks for the views of its filters
(`Filters.views`), and a conversation is in it when its summary has all of them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

from django.db.models import QuerySet, Value

from plug2support.contacts.attributes import KEY_RE as ATTR_KEY_RE
from plug2support.contacts.attributes import contacts_with_attribute
from plug2support.lib.ids import id_from
from plug2support.lib.text import has_controls

from ..models import HIDDEN_FROM_ALL_OPEN, Conversation, Priority, Stage
from ..stages import GROUPS
from .columns import Column, Own, Piece, constant, py_literal, sql_literal

SEARCH_MAX = 200
ATTR_FILTER_MAX = 300


class InboxError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Constant(Value):
    """One of our own constants written into the statement as a literal, not bound. A
    prepared statement's generic plan sees only placeholders, and PostgreSQL uses a partial
    index only where it can prove the index's condition from the query's: with the stages
    bound, the opening view read a company's closed conversations too (87 ms at 40 000
    conversations with 20 open, against 0.7 ms, found in review)."""

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return sql_literal(self.value), []


class _Me:
    """In a view's terms: the person looking (the member's user). A summary names such a
    view with its person: the value of that column (the conversation's assignee)."""

    def __repr__(self) -> str:
        return "ME"


ME = _Me()


@dataclass(frozen=True)
class Is:
    """`column` equals `value` (None: is null; ME: the person looking)."""

    column: str
    value: Any

    def filter(self, conversations: QuerySet[Conversation],
               user_id: int) -> QuerySet[Conversation]:
        if self.value is None:
            return conversations.filter(**{f"{self.column}__isnull": True})
        return conversations.filter(**{self.column: user_id if self.value is ME else self.value})

    # In a summary, ME is whoever the column names (Views): the term holds when it names one.
    def python(self) -> str:
        if self.value is ME:
            return f"row[{self.column!r}] is not None"
        if self.value is None:
            return f"row[{self.column!r}] is None"
        return f"row[{self.column!r}] == {py_literal(self.value)}"

    def sql(self, p: str) -> str:
        if self.value is ME:
            return f"{p}.{self.column} IS NOT NULL"
        if self.value is None:
            return f"{p}.{self.column} IS NULL"
        return f"{p}.{self.column} = {sql_literal(self.value)}"


@dataclass(frozen=True)
class In:
    """`column` is one of `values`."""

    column: str
    values: tuple[Any, ...]

    def filter(self, conversations: QuerySet[Conversation],
               user_id: int) -> QuerySet[Conversation]:
        return conversations.filter(**{f"{self.column}__in": self.values})

    def python(self) -> str:
        return f"row[{self.column!r}] in ({''.join(py_literal(v) + ', ' for v in self.values)})"

    def sql(self, p: str) -> str:
        return f"{p}.{self.column} IN ({', '.join(sql_literal(v) for v in self.values)})"


@dataclass(frozen=True)
class NotIn:
    """`column` is none of `values`. Term by term (`NOT (stage = x)` per value), as the open
    conversations' partial index says it (models.py): SQLite matches a partial index term
    by term; and with the values written into the statement (_Constant): the opening view is
    prepared, and a generic plan, which sees placeholders, cannot use a partial index."""

    column: str
    values: tuple[Any, ...]

    def filter(self, conversations: QuerySet[Conversation],
               user_id: int) -> QuerySet[Conversation]:
        for value in self.values:
            conversations = conversations.exclude(**{self.column: _Constant(value)})
        return conversations

    def python(self) -> str:
        values = "".join(py_literal(v) + ", " for v in self.values)
        return f"row[{self.column!r}] not in ({values})"

    def sql(self, p: str) -> str:
        return f"{p}.{self.column} NOT IN ({', '.join(sql_literal(v) for v in self.values)})"


@dataclass(frozen=True)
class IsSet:
    """`column` is not null (the Snoozed view: `snoozed_until` set)."""

    column: str

    def filter(self, conversations: QuerySet[Conversation],
               user_id: int) -> QuerySet[Conversation]:
        return conversations.filter(**{f"{self.column}__isnull": False})

    def python(self) -> str:
        return f"row[{self.column!r}] is not None"

    def sql(self, p: str) -> str:
        return f"{p}.{self.column} IS NOT NULL"


Term = Is | In | NotIn | IsSet
# M4: the open views leave snoozed conversations out (they wait in Snoozed until they wake);
# Mine and All, which show closed conversations too, keep them, marked.
NOT_SNOOZED = Is("snoozed_until", None)


@dataclass(frozen=True)
class View:
    label: str
    terms: tuple[Term, ...] = ()

    @cached_property
    def person(self) -> str | None:
        """The column that names this view's person (a personal view), or None."""
        return next((t.column for t in self.terms if isinstance(t, Is) and t.value is ME), None)

    def name_for(self, name: str, person: Any) -> str:
        return f"{name}:{person}" if self.person else name


# The saved views (D10), in the console's order, the first the default. A new view is one
# line here.
VIEWS: dict[str, View] = {
    "all_open": View("All open", (NotIn("stage", tuple(HIDDEN_FROM_ALL_OPEN)), NOT_SNOOZED)),
    "needs_my_reply": View("Needs my reply", (Is("assignee_id", ME),
                                              In("stage", (Stage.NEW, Stage.NEEDS_RESPONSE)),
                                              NOT_SNOOZED)),
    "unassigned": View("Unassigned", (Is("assignee_id", None),
                                      NotIn("stage", tuple(GROUPS["closed"])), NOT_SNOOZED)),
    "mine": View("Mine", (Is("assignee_id", ME),)),
    "snoozed": View("Snoozed", (IsSet("snoozed_until"),)),
    "all": View("All"),
}
VIEW_LABELS = {name: view.label for name, view in VIEWS.items()}


@dataclass(frozen=True)
class Filter:
    """A filter parameter: a column equal to the value given (`nobody`: the value that
    means null). `choices`: the values it accepts; `number`: ASCII digits."""

    column: str
    number: bool = False
    choices: tuple[Any, ...] | None = None
    nobody: int | None = None

    def filter(self, conversations: QuerySet[Conversation],
               value: Any) -> QuerySet[Conversation]:
        return Is(self.column, None if value == self.nobody else value).filter(
            conversations, 0)

    def python(self, name: str) -> str:
        column = f"row[{self.column!r}]"
        if self.nobody is not None:
            column = f"({py_literal(self.nobody)} if {column} is None else {column})"
        return f"{(constant(name) + ':')!r} + str({column})"

    def sql(self, name: str, p: str) -> str:
        column = f"{p}.{self.column}"
        if self.nobody is not None:
            column = f"COALESCE({column}, {sql_literal(self.nobody)})"
        return f"'{constant(name)}:' || {column}"


@dataclass(frozen=True)
class TagFilter(Filter):
    """Having that tag (of its tags: one view per tag, in the order they were added)."""

    column: str = "tags"
    number: bool = True

    def filter(self, conversations: QuerySet[Conversation],
               value: Any) -> QuerySet[Conversation]:
        return conversations.filter(tag_links__tag_id=value)

    def python(self, name: str) -> str:  # a list, appended (Views.python)
        return f"[{(constant(name) + ':')!r} + str(tag['id']) for tag in row['tags']]"

    def sql(self, name: str, p: str) -> str:  # an array, appended (Views.sql)
        return f"pt.{constant(name)}_views"

    def over_tags(self, name: str) -> dict[str, str]:
        return {f"{constant(name)}_views":
                f"COALESCE(array_agg('{constant(name)}:' || l.tag_id ORDER BY l.id), '{{}}')"}


SORTS = ("", "time_left")

# The filters (D10), by parameter name. A new filter is one line here and its field in
# Filters.
FILTERS: dict[str, Filter] = {
    "stage": Filter("stage", choices=tuple(Stage.values)),
    "owner": Filter("assignee_id", number=True, nobody=0),
    "tag": TagFilter(),
    "priority": Filter("priority", number=True, choices=tuple(Priority.values)),
    "widget": Filter("widget_id", number=True),
}


@dataclass(frozen=True)
class Filters:
    view: str = "all_open"
    stage: str = ""
    owner: int | None = None  # a user id, or 0 for "nobody"
    tag: int | None = None
    priority: int | None = None
    widget: int | None = None
    q: str = ""
    # M9: `key:value`, conversations whose contact has that custom attribute value. Like
    # the search, not a view a summary names: a live list under it takes no newcomers.
    attr: str = ""
    # K3: "time_left" lists the soonest service-target due time first (sla_due_at, NULLS
    # LAST), then INBOX_ORDER; "" the usual order. An order, not a filter: no view says it.
    sort: str = ""

    @classmethod
    def parse(cls, params: Any) -> Filters:
        """From query parameters; anything malformed is refused (never silently ignored)."""
        view = params.get("view") or "all_open"
        if view not in VIEWS:
            raise InboxError(f"Unknown view; one of: {', '.join(VIEWS)}.")
        values: dict[str, Any] = {}
        for name, definition in FILTERS.items():
            if definition.number:
                continue
            values[name] = params.get(name) or ""
            if (values[name] and definition.choices is not None
                    and values[name] not in definition.choices):
                raise InboxError(f"Unknown {name}; one of: {', '.join(definition.choices or ())}.")
        q = (params.get("q") or "").strip()
        if len(q) > SEARCH_MAX:
            raise InboxError(f"A search is at most {SEARCH_MAX} characters.")
        numbers = {name: d for name, d in FILTERS.items() if d.number}
        for name in numbers:
            raw = params.get(name) or ""
            if raw == "":
                values[name] = None
            elif (number := id_from(raw)) is not None:  # digits a database column holds
                values[name] = number
            else:
                raise InboxError(f"{name} must be a number.")
        for name, definition in numbers.items():
            if (values[name] is not None and definition.choices is not None
                    and values[name] not in definition.choices):
                raise InboxError(f"Unknown {name}.")
        attr = (params.get("attr") or "").strip()
        if attr:
            key, sep, value = attr.partition(":")
            if not sep or not ATTR_KEY_RE.fullmatch(key) or not value.strip() \
                    or len(attr) > ATTR_FILTER_MAX or has_controls(attr):
                raise InboxError("attr is key:value, the key of a contact attribute "
                                 "(plan:pro).")
        sort = params.get("sort") or ""
        if sort not in SORTS:
            raise InboxError(f"Unknown sort; one of: {', '.join(s for s in SORTS if s)}.")
        return cls(view=view, q=q, attr=attr, sort=sort, **values)

    def given(self) -> Iterator[tuple[str, Any]]:
        """The filters set (name, value), in FILTERS' order; the view and search apart."""
        for name in FILTERS:
            value = getattr(self, name)
            if value is not None and value != "":
                yield name, value

    def views(self, user_id: int) -> list[str]:
        """The views a conversation's summary must all have to be in this list (the
        search apart: the list says what matched it)."""
        return [VIEWS[self.view].name_for(self.view, user_id),
                *(f"{name}:{value}" for name, value in self.given())]


assert {f.name for f in fields(Filters)} == {"view", "q", "attr", "sort", *FILTERS}, \
    "a field per filter"

OPENING_VIEW = Filters()  # what the inbox shows when an operator opens it: all open, unfiltered


def filtered(conversations: QuerySet[Conversation], user_id: int,
             filters: Filters) -> QuerySet[Conversation]:
    """The conversations in the view and filters (the search apart: search.py)."""
    for term in VIEWS[filters.view].terms:
        conversations = term.filter(conversations, user_id)
    for name, value in filters.given():
        conversations = FILTERS[name].filter(conversations, value)
    if filters.attr:
        conversations = conversations.filter(visitor__contact_link__contact__in=(
            contacts_with_attribute(*filters.attr.split(":", 1))))
    return conversations


class Views(Piece):
    """A summary's `views`: those of the saved views it is in, then its filter values, its
    tags last."""

    def columns(self) -> Iterator[Column]:
        for view in VIEWS.values():
            for term in view.terms:
                yield Own(term.column)
        for definition in FILTERS.values():
            if not isinstance(definition, TagFilter):
                yield Own(definition.column)

    def python(self) -> str:
        names: list[str] = []
        lists: list[str] = []
        for name, view in VIEWS.items():
            named = (f"{(constant(name) + ':')!r} + str(row[{view.person!r}])" if view.person
                     else py_literal(name))
            conditions = " and ".join(f"({term.python()})" for term in view.terms)
            names.append(f"({named} if {conditions} else None)" if conditions else named)
        for name, definition in FILTERS.items():
            (lists if isinstance(definition, TagFilter) else names).append(
                definition.python(name))
        # One value per conversation, then the tags (as the SQL appends their array).
        return (f"[name for name in ({''.join(n + ', ' for n in names)}) if name is not None]"
                + "".join(f" + {each}" for each in lists))

    def sql(self, p: str) -> str:
        names: list[str] = []
        arrays: list[str] = []
        for name, view in VIEWS.items():
            conditions = [term.sql(p) for term in view.terms]
            named = (f"'{constant(name)}:' || {p}.{view.person}" if view.person
                     else sql_literal(name))
            names.append(f"CASE WHEN {' AND '.join(conditions)} THEN {named} END"
                         if conditions else named)
        for name, definition in FILTERS.items():
            (arrays if isinstance(definition, TagFilter) else names).append(
                definition.sql(name, p))
        return (f"array_to_json(array_remove(ARRAY[{', '.join(names)}]::text[], NULL)"
                + "".join(f" || {array}" for array in arrays) + ")")

    def over_tags(self) -> dict[str, str]:
        return {key: sql for name, definition in FILTERS.items()
                if isinstance(definition, TagFilter)
                for key, sql in definition.over_tags(name).items()}
