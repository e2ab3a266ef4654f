"""lib/rows.hot_cursor side by side with Django's own cursor (`connection.cursor()`).

On PostgreSQL the hot cursor is made by hand, to bind parameters on the server and prepare
its statements, so it repeats what Django does when it makes a cursor: the connection, error
translation, its cursor class, the time zone of the timestamps it reads, the wrapper with its
query log. These tests hold the two together on both databases: the same wrapper and driver
set-up, the same values of the same types for the same statement, and model instances read
through `RowReader` equal to the ORM's — in the product's settings (UTC) and in a time zone
the connection did not start with. A Django or psycopg upgrade that changes how Django makes
its cursors fails here, not in what a visitor reads."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Model
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation, Event
from plug2support.lib.rows import RowReader, hot_cursor

from .conftest import Tenant

ON_POSTGRESQL = connection.vendor == "postgresql"

# The types whose loaders must be the same in both cursors (what the product's tables hold).
PG_TYPES = ["timestamptz", "timestamp", "date", "time", "interval", "numeric", "bool", "int2",
            "int4", "int8", "float8", "text", "varchar", "json", "jsonb", "uuid", "inet",
            "bytea"]


@pytest.fixture(params=["UTC", "Asia/Tokyo"])
def time_zone(request: pytest.FixtureRequest, settings: Any) -> str:
    """UTC: the product's settings. Asia/Tokyo: settings changed after the connection was
    made (USE_TZ off, another TIME_ZONE: Django resets the connection's time zone and its
    session's), so its timestamps must be read in a zone its loaders were not made for —
    Django's create_cursor registers one for the cursor, and so must the hot cursor."""
    if request.param != "UTC":
        settings.USE_TZ = False
        settings.TIME_ZONE = request.param
    return str(request.param)


@contextmanager
def both(logged: bool = False) -> Iterator[tuple[Any, Any]]:
    """Django's cursor and the hot cursor, open at once on the same connection."""
    with ExitStack() as stack:
        if logged:  # the query log's wrapper, as under DEBUG or assertNumQueries
            stack.enter_context(CaptureQueriesContext(connection))
        django = stack.enter_context(connection.cursor())
        hot = stack.enter_context(hot_cursor(connection))
        yield django, hot


def described(values: Any) -> list[tuple[Any, type, Any]]:
    """Each value with its type and, for times, its zone: equal values of other types (an
    int and a Decimal, an aware and a naive datetime) must not pass for the same."""
    return [(value, type(value), getattr(value, "tzinfo", None)) for value in values]


@pytest.mark.parametrize("logged", [False, True])
def test_the_hot_cursor_is_wrapped_and_set_up_as_djangos_own(db: Any, time_zone: str,
                                                             logged: bool) -> None:
    with both(logged) as (django, hot):
        # Django's wrapper: error translation, execute wrappers, the query log when on.
        assert isinstance(hot, CursorWrapper) and hot.db is django.db
        assert isinstance(hot, CursorDebugWrapper) is isinstance(django, CursorDebugWrapper)
        assert isinstance(hot, CursorDebugWrapper) is logged
        if not ON_POSTGRESQL:  # elsewhere it is Django's cursor itself
            assert type(hot) is type(django) and type(hot.cursor) is type(django.cursor)
            return
        import psycopg
        from psycopg.pq import Format

        raw, theirs = hot.cursor, django.cursor
        assert raw.connection is theirs.connection
        # Django's own cursor class, binding on the server (its `server_side_binding`
        # option): everything Django adds to the driver's cursor is there too.
        assert isinstance(raw, psycopg.Cursor) and not isinstance(raw, psycopg.ClientCursor)
        added = {name for cls in type(theirs).__mro__ if cls.__module__.startswith("django.")
                 for name in vars(cls) if not name.startswith("__")}
        assert added and added <= set(dir(raw))
        # The same loader for each type, the timestamps' in the same zone.
        for name in PG_TYPES:
            oid = psycopg.adapters.types[name].oid
            for fmt in (Format.TEXT, Format.BINARY):
                ours, djangos = (c.adapters.get_loader(oid, fmt) for c in (raw, theirs))
                assert (ours is None) == (djangos is None), (name, fmt)
                if ours is None or djangos is None:
                    continue
                assert ours.__mro__[1:] == djangos.__mro__[1:], (name, fmt)
                assert getattr(ours, "timezone", None) == getattr(djangos, "timezone", None)


def test_the_same_statement_reads_the_same_values_and_types(db: Any, time_zone: str) -> None:
    moment = dt.datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=ZoneInfo("America/New_York"))
    if time_zone != "UTC":
        moment = moment.replace(tzinfo=None)  # USE_TZ off: Django takes naive datetimes
    params: list[Any] = [moment, dt.date(2026, 2, 28), Decimal("12.50"), True, None,
                         "é 😀 ' \\ %s", 2**40, 7]
    if ON_POSTGRESQL:
        params += [uuid.UUID(int=5), dt.timedelta(hours=-1, seconds=1), 1.5]
        sql = ("SELECT %s::timestamptz, %s::date, %s::numeric, %s::boolean, %s::text, %s::text,"
               " %s::bigint, %s::integer, %s::uuid, %s::interval, %s::float8, now() - now(),"
               " '2026-10-25 01:30:00+00'::timestamptz, '{\"a\": [1, null]}'::jsonb")
    else:
        sql = "SELECT " + ", ".join(["%s"] * len(params)) + ", 1.5, NULL"
    with both() as (django, hot):
        rows = []
        for cursor in (django, hot):
            cursor.execute(sql, params)
            rows.append(cursor.fetchall())
        theirs, ours = rows
        assert [described(row) for row in ours] == [described(row) for row in theirs]
        if ON_POSTGRESQL:
            read = ours[0][0]
            assert read == moment  # the same instant (or wall time, with USE_TZ off)
            expected_zone = dt.UTC if time_zone == "UTC" else None
            assert read.tzinfo == expected_zone


def test_rows_read_through_the_hot_cursor_are_the_orms_instances(acme: Tenant,
                                                                  time_zone: str) -> None:
    """RowReader converts the hot cursor's columns with the ORM's own converters: the
    instances equal what the ORM reads, field by field, type by type."""
    with override_settings(USE_TZ=True, TIME_ZONE="UTC"):  # written as the product writes
        visitor, _ = do_identify_visitor(acme.widget, None)
        posted = do_post_visitor_message(visitor, client_id="m1", body="Hello ✓")
    models: list[tuple[type[Model], int]] = [(Event, posted.event.pk),
                                             (Conversation, posted.event.conversation_id)]
    for model, pk in models:
        reader = RowReader(model)
        table = model._meta.db_table  # names of our own models, no input
        sql = f"SELECT {reader.columns('t', connection)} FROM {table} t WHERE t.id = %s"  # noqa: S608
        with hot_cursor(connection) as cursor:
            cursor.execute(sql, [pk])
            read = reader.read(cursor.fetchone(), connection)
        orm = model._default_manager.get(pk=pk)
        assert described(getattr(read, name) for name in reader.attnames) == described(
            getattr(orm, name) for name in reader.attnames)
        assert read._state.db == orm._state.db and not read._state.adding
