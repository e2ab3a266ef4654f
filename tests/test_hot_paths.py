"""The hot paths' database cursor (lib/rows.hot_cursor) and the server's startup heap: what
makes a visitor message and an inbox look cheap must not change what they do."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from plug2support.conversations.actions.messages import (
    do_post_operator_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.teamwork import do_add_note
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.hot_path import _INSERT_EVENT
from plug2support.conversations.models import Conversation
from plug2support.lib.rows import hot_cursor

from . import conftest
from .conftest import Tenant


def _prepared() -> set[tuple[str, str]]:
    """(name, statement) of this connection's prepared statements: a statement prepared
    again gets a new name."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements")
        return {(row[0], row[1]) for row in cursor.fetchall()}


def test_a_visitor_message_on_the_hot_cursor_is_logged_and_stored_once(acme: Tenant) -> None:
    """Its statements go through Django's cursor wrapper (query log, execute wrappers); on
    PostgreSQL they are prepared on the connection, and a second message reuses them."""
    visitor, _ = do_identify_visitor(acme.widget, None)
    do_post_visitor_message(visitor, client_id="m1", body="Hello")
    with CaptureQueriesContext(connection) as first:
        second = do_post_visitor_message(visitor, client_id="m2", body="Still there?")
    logged = [query["sql"] for query in first.captured_queries]
    numbering = [sql for sql in logged if "RETURNING last_seq" in sql]
    on_postgresql = connection.vendor == "postgresql"
    # PostgreSQL numbers and inserts in one statement (a writable WITH); SQLite in two.
    assert len(numbering) == 1
    assert ("INSERT INTO" in numbering[0]) is on_postgresql
    assert sum("INSERT INTO" in sql for sql in logged) == 1
    assert second.event.seq == 2 and not second.duplicate
    prepared = _prepared() if on_postgresql else set()
    if on_postgresql:
        assert any(statement.startswith("WITH n AS (UPDATE") for _, statement in prepared)
    do_post_visitor_message(visitor, client_id="m3", body="Hello again")
    if on_postgresql:
        assert _prepared() == prepared  # reused, not prepared again
        # Only the hot cursor's statements: psycopg keeps no count of Django's own.
        assert connection.connection.prepare_threshold is None
    assert list(Conversation.objects.filter(visitor=visitor).values_list(
        "last_seq", flat=True)) == [3]


@pytest.mark.django_db(transaction=True)
def test_writers_at_once_number_one_conversation_without_gaps(acme: Tenant) -> None:
    """The visitor, its operator and a teammate's notes, each on its own connection at
    once: every event gets its own number, in order, none skipped, and the conversation's
    counter ends at the last. The writers queue on the conversation's lock before they
    number; this holds that the numbering statement (on PostgreSQL it also inserts) keeps
    that order and leaves no gap."""
    visitor, _ = do_identify_visitor(acme.widget, None)
    first = do_post_visitor_message(visitor, client_id="v0", body="Hi").event
    conversation = Conversation.objects.get(pk=first.conversation_id)
    alice, bob = (acme.membership(user) for user in acme.operators)
    do_post_operator_message(alice, conversation, client_id="a0", body="Hello")
    barrier = threading.Barrier(3)
    failures: list[BaseException] = []

    def write(send: Callable[[int], object]) -> None:
        try:
            barrier.wait(timeout=10)
            for n in range(1, 16):
                send(n)
        except BaseException as error:  # noqa: BLE001 (reported by the assertion below)
            failures.append(error)
        finally:
            connection.close()

    writers = [
        lambda n: do_post_visitor_message(visitor, client_id=f"v{n}", body=f"v{n}"),
        lambda n: do_post_operator_message(alice, conversation, client_id=f"a{n}",
                                           body=f"a{n}"),
        lambda n: do_add_note(bob, conversation, client_id=f"b{n}", body=f"b{n}"),
    ]
    threads = [threading.Thread(target=write, args=(send,)) for send in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    seqs = list(conversation.events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    bodies = set(conversation.events.values_list("body", flat=True))
    assert {f"{who}{n}" for who in "vab" for n in range(1, 16)} <= bodies
    conversation.refresh_from_db()
    assert conversation.last_seq == seqs[-1]


def test_errors_on_the_hot_cursor_are_django_errors_and_change_nothing(acme: Tenant) -> None:
    """The same exceptions as Django's own cursors (the socket's database guard and every
    caller catch those), on both databases."""
    visitor, _ = do_identify_visitor(acme.widget, None)
    posted = do_post_visitor_message(visitor, client_id="m1", body="Hello")
    event = posted.event
    with pytest.raises(IntegrityError), transaction.atomic(), hot_cursor(connection) as cursor:
        # The same sequence number twice in one conversation: refused by its unique index.
        cursor.execute(_INSERT_EVENT, [event.conversation_id, event.seq, "message",
                                               "visitor", None, "again", "m9", False,
                                               None, event.created_at])
    assert list(Conversation.objects.get(pk=event.conversation_id).events.values_list(
        "body", flat=True)) == ["Hello"]


def test_the_server_keeps_what_it_started_with_out_of_full_collections(live: str) -> None:
    """The ASGI startup freezes the heap it loaded (asgi.settle_heap): a full collection
    then walks only what came after, not the whole of Django (a 50–97 ms pause). The live
    server's test thread reads the count right after its startup, then unfreezes: the test
    process's own objects must stay collectable."""
    assert conftest.LIVE_SERVERS[0].frozen_at_startup > 10_000
    assert gc.get_freeze_count() == 0


def test_settle_heap_keeps_no_garbage(live: str) -> None:
    """What is already garbage at startup is collected, not frozen for the process's life."""
    from plug2support.asgi import settle_heap

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    gc.disable()  # so that only settle_heap's own collection can free the cycle
    try:
        garbage = weakref.ref(Cycle())  # unreachable: only a collection frees a cycle
        assert garbage() is not None
        settle_heap()
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
        gc.enable()
    assert garbage() is None
