"""Model instances from rows read by hand-written SQL, converted exactly as the ORM converts
them (its backend and field converters), for the few hot paths where building the query
costs more than running it (conversations/hot_path.py: a visitor's message;
conversations/opening.py: its first)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Generic, TypeVar, cast

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)


def current_connection() -> BaseDatabaseWrapper:
    """This thread's default database connection itself. `django.db.connection` is a proxy
    that looks the connection up (in asgiref's Local) on every attribute read: some thirty
    reads a visitor message, measured at a sixth of its database thread's time."""
    return connections[DEFAULT_DB_ALIAS]


# (column position, (converter functions, expression)), as Django's compilers list them.
Converters = list[tuple[int, tuple[list[Any], Any]]]


def apply_converters(values: list[Any], converters: Converters,
                     connection: BaseDatabaseWrapper) -> list[Any]:
    """Convert, in place, the row's columns that have converters (`converters`' positions)."""
    for position, (functions, expression) in converters:
        for convert in functions:
            values[position] = convert(values[position], expression, connection)
    return values


class RowReader(Generic[M]):
    """Reads `fields` of `model` from consecutive columns of a row."""

    def __init__(self, model: type[M], field_names: list[str] | None = None) -> None:
        self.model = model
        chosen = {model._meta.get_field(name) for name in field_names or []}
        # In the model's order, whatever order they were named in: `from_db` takes a partial
        # row in that order (named out of order, a user's name and e-mail were swapped).
        self.fields = [cast("Field[Any, Any]", field) for field in model._meta.concrete_fields
                       if field_names is None or field in chosen]
        assert field_names is None or len(self.fields) == len(chosen), "not concrete fields"
        self.attnames = [field.attname for field in self.fields]
        self._converters: dict[str, Converters] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def columns(self, alias: str, connection: BaseDatabaseWrapper) -> str:
        """The SELECT list for these fields of the table known as `alias`."""
        quote = connection.ops.quote_name
        return ", ".join(f"{alias}.{quote(field.column)}" for field in self.fields)

    def read(self, values: list[Any] | tuple[Any, ...],
             connection: BaseDatabaseWrapper) -> M:
        converters = self._converters.get(connection.alias)
        if converters is None:
            converters = []
            for position, field in enumerate(self.fields):
                column = field.get_col(self.model._meta.db_table)
                functions = (connection.ops.get_db_converters(column)
                             + column.get_db_converters(connection))
                if functions:
                    converters.append((position, (functions, column)))
            self._converters[connection.alias] = converters
        converted = apply_converters(list(values), converters, connection)
        return self.model.from_db(connection.alias, self.attnames, converted)


class _DebugCursor(CursorDebugWrapper):
    """Django's query log (DEBUG, tests' query captures) for the hot cursor: it shows the
    statement as written, with its parameters beside it. Django's own rebuilds the statement
    from what the driver last sent, which psycopg does not keep for a prepared one."""

    def debug_sql(self, sql: Any = None, params: Any = None,
                  use_last_executed_query: bool = False,
                  many: bool = False) -> AbstractContextManager[None]:
        return super().debug_sql(sql, params, use_last_executed_query=False, many=many)


@contextmanager
def hot_cursor(connection: BaseDatabaseWrapper) -> Iterator[Any]:
    """A cursor for the few statements every visitor message runs, wrapped by Django as its
    own (query logging, error translation, execute wrappers all apply).

    On PostgreSQL it binds parameters on the server and prepares each statement on its first
    use on a connection (settings.DB_PREPARED_STATEMENTS), so PostgreSQL parses and plans it
    once per connection (once per combination of integer widths, which psycopg picks by
    value) instead of on every call — for statements whose one plan suits every call (a row
    by its key). Preparing is switched on for this cursor's statements only: Django's own
    cursors bind on the client and never prepare, and with preparing on for the connection
    psycopg would also keep the text of each of their statements (a bulk insert's megabytes
    among them) in its per-connection cache of candidates."""
    connection = connections[connection.alias]  # the connection itself, not the proxy
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    # Only on PostgreSQL: an SQLite process never loads the PostgreSQL backend or driver.
    import psycopg
    from django.db.backends.postgresql.base import ServerBindingCursor  # type: ignore[attr-defined]
    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg.pq import Format

    # As Django's connection.cursor() does (create_cursor and _prepare_cursor), with the
    # cursor class Django itself uses to bind on the server (OPTIONS server_side_binding;
    # defined for psycopg 3 only, which django-stubs does not see). tests/test_hot_cursor.py
    # holds the two side by side.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    pg = connection.connection
    with connection.wrap_database_errors:
        raw = ServerBindingCursor(pg)
    loader = pg.adapters.get_loader(psycopg.adapters.types["timestamptz"].oid, Format.TEXT)
    if getattr(loader, "timezone", None) != connection.timezone:
        register_tzloader(connection.timezone, raw)
    connection.validate_thread_sharing()
    cursor = (_DebugCursor(raw, connection) if connection.queries_logged
              else CursorWrapper(raw, connection))
    threshold = pg.prepare_threshold
    try:
        if settings.DB_PREPARED_STATEMENTS:
            pg.prepare_threshold = 0  # prepare on first use; set back below
        with cursor:
            yield cursor
    finally:
        pg.prepare_threshold = threshold
