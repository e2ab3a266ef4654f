"""The real-time path over real WebSockets to a real uvicorn server: access checks, bad
frames, live delivery, resume by sequence number, idempotent resends, concurrent claims."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from plug2support.conversations.models import Conversation, Event

from .conftest import (
    WS,
    open_operator,
    open_visitor,
    session_cookie,
    ws_connect,
)


def visitor_says(ws: WS, client_id: str, body: str) -> dict[str, Any]:
    ack = ws.request({"type": "message", "client_id": client_id, "body": body})
    assert ack["type"] == "ack", ack
    return ack


# --- who may connect -----------------------------------------------------------------------

def test_operator_socket_from_another_site_is_refused(live: str, tenants: Any) -> None:
    """Cross-site WebSocket hijacking: a valid session cookie, but the page is elsewhere."""
    acme, _ = tenants
    with pytest.raises(InvalidStatus) as error:
        ws_connect(live, "/ws/operator", "http://evil.example", session_cookie(acme.owner))
    assert error.value.response.status_code == 403


def test_operator_socket_without_a_session_is_closed_with_4401(live: str, tenants: Any) -> None:
    ws = WS(ws_connect(live, "/ws/operator"))
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_a_flood_of_new_visitors_from_one_address_is_refused(live: str, tenants: Any) -> None:
    from plug2support.conversations.actions.visitors import NEW_VISITORS_PER_IP_PER_MINUTE
    from plug2support.widgets.models import Visitor

    acme, _ = tenants
    for _ in range(NEW_VISITORS_PER_IP_PER_MINUTE):
        ws, _welcome = open_visitor(live, acme.widget)
        ws.close()
    ws = WS(ws_connect(live, "/ws/widget"))
    ws.send({"type": "hello", "widget": acme.widget.key, "token": None})
    refused = ws.recv()
    assert refused["code"] == "rate_limited" and "60 a minute" in refused["message"]
    assert Visitor.objects.count() == NEW_VISITORS_PER_IP_PER_MINUTE


def test_widget_socket_with_an_unknown_key_is_refused(live: str, tenants: Any) -> None:
    ws = WS(ws_connect(live, "/ws/widget"))
    ws.send({"type": "hello", "widget": "wk_nope", "token": None})
    assert ws.recv()["code"] == "widget_not_found"
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404


def test_widget_socket_must_start_with_hello(live: str, tenants: Any) -> None:
    ws = WS(ws_connect(live, "/ws/widget"))
    ws.send({"type": "message", "client_id": "x", "body": "hi"})
    assert ws.recv()["code"] == "hello_required"
    with pytest.raises(ConnectionClosed):
        ws.recv()


def test_widget_socket_from_another_origin_is_refused(live: str, tenants: Any) -> None:
    with pytest.raises(InvalidStatus):
        ws_connect(live, "/ws/widget", "http://evil.example")


def test_the_server_declines_per_message_compression(live: str, tenants: Any) -> None:
    """Browsers offer permessage-deflate on every socket; accepting it would keep a zlib
    state per idle widget (plug2support/ops/server.py)."""
    connection = ws_connect(live, "/ws/widget")
    try:
        assert connection.request is not None and connection.response is not None
        assert "permessage-deflate" in connection.request.headers["Sec-WebSocket-Extensions"]
        assert "Sec-WebSocket-Extensions" not in connection.response.headers
    finally:
        connection.close()


# --- bad frames ----------------------------------------------------------------------------

def test_bad_frames_get_clear_errors_and_the_socket_keeps_working(live: str, tenants: Any) -> None:
    acme, _ = tenants
    ws, _welcome = open_visitor(live, acme.widget)
    ws.send("this is not json")
    assert ws.recv()["code"] == "bad_frame"
    ws.send("[1, 2]")
    assert ws.recv()["code"] == "bad_frame"
    assert ws.request({"type": "teleport"})["code"] == "unknown_type"
    too_long = ws.request({"type": "message", "client_id": "big", "body": "x" * 5001})
    assert too_long["code"] == "message_too_long" and too_long["limit"] == 5000
    ws.send({"type": "message", "client_id": "huge", "body": "x" * 70_000})
    frame = ws.recv()
    assert frame["code"] == "frame_too_large" and frame["limit"] == 65536
    assert ws.request({"type": "ping"})["type"] == "pong"
    assert not Event.objects.exists()


def test_operator_cannot_touch_another_companys_conversation(live: str, tenants: Any) -> None:
    acme, globex = tenants
    visitor, _ = open_visitor(live, acme.widget)
    ack = visitor_says(visitor, "v1", "Private question")
    intruder = open_operator(live, globex.owner)
    for frame in ({"type": "subscribe", "conversation": ack["conversation"], "after": 0},
                  {"type": "claim", "conversation": ack["conversation"]},
                  {"type": "message", "conversation": ack["conversation"], "client_id": "x",
                   "body": "hi"},
                  {"type": "subscribe", "conversation": "nonsense"},
                  {"type": "subscribe", "conversation": True},
                  {"type": "subscribe", "conversation": ack["conversation"] + 0.5}):
        reply = intruder.request(frame)
        assert reply["type"] == "error" and reply["code"] == "not_found", reply
    conversation = Conversation.objects.get(pk=ack["conversation"])
    assert conversation.assignee is None
    assert conversation.events.count() == 1


def test_operators_of_another_company_hear_nothing(live: str, tenants: Any) -> None:
    acme, globex = tenants
    outsider = open_operator(live, globex.owner)
    insider = open_operator(live, acme.operators[0])
    visitor, _ = open_visitor(live, acme.widget)
    visitor_says(visitor, "v1", "Hello Acme")
    insider.recv_until(lambda f: f["type"] == "conversation")
    # The outsider's socket works; nothing it received before the pong was about Acme.
    outsider.request({"type": "ping"}, timeout=5)
    outsider.request({"type": "ping"}, timeout=5)
    assert [f for f in outsider.backlog if f["type"] in ("conversation", "event")] == []
    assert all("Hello Acme" not in str(f) for f in outsider.backlog)


# --- the live loop -------------------------------------------------------------------------

def test_a_new_conversation_reaches_every_online_operator_and_the_claim_is_seen_by_all(
        live: str, tenants: Any) -> None:
    acme, _ = tenants
    alice = open_operator(live, acme.operators[0])
    bob = open_operator(live, acme.operators[1])
    visitor, _ = open_visitor(live, acme.widget)
    ack = visitor_says(visitor, "v1", "Do you ship to Norway?")
    for op in (alice, bob):
        arrived = op.recv_until(lambda f: f["type"] == "conversation")["conversation"]
        assert arrived["id"] == ack["conversation"]
        assert arrived["preview"] == "Do you ship to Norway?" and arrived["served_by"] is None
    claimed = alice.request({"type": "claim", "conversation": ack["conversation"]})
    assert claimed["type"] == "claimed"
    served = bob.recv_until(lambda f: f["type"] == "conversation"
                            and f["conversation"]["served_by"] is not None)
    assert served["conversation"]["served_by"]["name"] == acme.operators[0].name
    joined = visitor.recv_until(lambda f: f["type"] == "event" and f["kind"] == "claimed")
    assert joined["author"]["name"] == acme.operators[0].name

    alice.request({"type": "subscribe", "conversation": ack["conversation"], "after": 0})
    reply = alice.request({"type": "message", "conversation": ack["conversation"],
                           "client_id": "a1", "body": "Yes, we do!"})
    assert reply["type"] == "ack" and reply["seq"] == 3
    heard = visitor.recv_until(lambda f: f["type"] == "event" and f["sender"] == "operator")
    assert heard["body"] == "Yes, we do!" and heard["sender"] == "operator"
    visitor_says(visitor, "v2", "Great, thanks")
    back = alice.recv_until(lambda f: f["type"] == "event" and f.get("body") == "Great, thanks")
    assert back["seq"] > reply["seq"]
    # The team's first reply moved it New → Waiting on user; the customer's answer → Needs
    # response: both in the team's history, neither shown to the visitor.
    last_move = alice.recv_until(lambda f: f.get("kind") == "stage_changed"
                                 and "→ Needs response" in f["body"])
    moves = [f for f in alice.backlog if f.get("kind") == "stage_changed"] + [last_move]
    assert [m["body"].split(": ")[1].split(" (")[0] for m in moves] == [
        "New → Waiting on user", "Waiting on user → Needs response"]
    visitor.request({"type": "ping"})
    assert not [f for f in visitor.backlog if f.get("kind") == "stage_changed"]


def test_two_operators_claiming_over_sockets_at_once_one_wins(live: str, tenants: Any) -> None:
    acme, _ = tenants
    ops = [open_operator(live, u) for u in acme.operators]
    visitor, _ = open_visitor(live, acme.widget)
    conversation_id = visitor_says(visitor, "v1", "Anyone?")["conversation"]
    barrier = threading.Barrier(2)
    replies: list[dict[str, Any]] = []

    def claim(ws: WS) -> None:
        barrier.wait(timeout=10)
        replies.append(ws.request({"type": "claim", "conversation": conversation_id}))

    threads = [threading.Thread(target=claim, args=(ws,)) for ws in ops]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    kinds = sorted(r["type"] for r in replies)
    assert kinds == ["claimed", "error"]
    loser = next(r for r in replies if r["type"] == "error")
    winner = Conversation.objects.get(pk=conversation_id).assignee
    assert loser["code"] == "already_served"
    assert winner is not None and loser["served_by"]["id"] == winner.pk


def test_a_reconnecting_client_gets_exactly_what_it_missed(live: str, tenants: Any) -> None:
    acme, _ = tenants
    visitor, welcome = open_visitor(live, acme.widget)
    token = welcome["token"]
    first = visitor_says(visitor, "v1", "one")
    conversation_id = first["conversation"]
    operator = open_operator(live, acme.operators[0])
    operator.request({"type": "claim", "conversation": conversation_id})
    last_seen = visitor.recv_until(lambda f: f["type"] == "event" and f["seq"] == 2)["seq"]
    visitor.close()

    for i in range(3):  # sent while the visitor is away
        operator.request({"type": "message", "conversation": conversation_id,
                          "client_id": f"o{i}", "body": f"missed {i}"})

    back, welcome = open_visitor(live, acme.widget, token=token, after=last_seen,
                                 conversation=conversation_id)
    assert welcome["conversation"]["id"] == conversation_id
    replayed = [back.recv() for _ in range(3)]
    # In order, each once; the team-only stage move between them is not sent (a gap in seq).
    seqs = [f["seq"] for f in replayed]
    assert seqs == sorted(set(seqs)) and seqs[0] > last_seen
    assert [f["body"] for f in replayed] == ["missed 0", "missed 1", "missed 2"]
    # Then live again, with nothing replayed twice.
    visitor_says(back, "v2", "back")
    nxt = back.recv_until(lambda f: f["type"] == "event")
    assert nxt["seq"] > seqs[-1] and nxt["body"] == "back"


def test_a_resent_message_is_acknowledged_again_and_stored_once(live: str, tenants: Any) -> None:
    acme, _ = tenants
    visitor, welcome = open_visitor(live, acme.widget)
    first = visitor_says(visitor, "same-id", "Hello?")
    visitor.close()
    again, _ = open_visitor(live, acme.widget, token=welcome["token"], after=first["seq"],
                            conversation=first["conversation"])
    second = visitor_says(again, "same-id", "Hello?")
    assert second["duplicate"] is True and second["seq"] == first["seq"]
    assert Event.objects.filter(client_id="same-id").count() == 1


def test_a_second_tab_of_the_visitor_follows_the_conversation_started_in_the_first(
        live: str, tenants: Any) -> None:
    acme, _ = tenants
    tab1, welcome = open_visitor(live, acme.widget)
    tab2, _ = open_visitor(live, acme.widget, token=welcome["token"])
    visitor_says(tab1, "t1", "from tab one")
    started = tab2.recv_until(lambda f: f["type"] == "conversation_started")
    event = tab2.recv_until(lambda f: f["type"] == "event")
    assert event["conversation"] == started["conversation"]["id"]
    assert event["body"] == "from tab one"


def test_html_in_a_message_is_stored_and_sent_as_plain_text(live: str, tenants: Any) -> None:
    acme, _ = tenants
    visitor, _ = open_visitor(live, acme.widget)
    payload = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    ack = visitor_says(visitor, "xss", payload)
    operator = open_operator(live, acme.operators[0])
    operator.request({"type": "subscribe", "conversation": ack["conversation"], "after": 0})
    event = operator.recv_until(lambda f: f["type"] == "event")
    assert event["body"] == payload  # the client renders it with textContent (browser test)


def test_logging_out_closes_the_sockets_of_that_session(live: str, tenants: Any) -> None:
    from django.test import Client

    from .conftest import PASSWORD

    acme, _ = tenants
    browser = Client()
    browser.post("/accounts/login/", {"username": acme.owner.email, "password": PASSWORD})
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    console = WS(ws_connect(live, "/ws/operator", cookie=cookie))
    assert console.recv()["type"] == "welcome"
    other_session = open_operator(live, acme.owner)  # the same user, logged in elsewhere
    browser.post("/accounts/logout/")
    with pytest.raises(ConnectionClosed) as closed:
        console.recv_until(lambda f: False)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert other_session.request({"type": "ping"})["type"] == "pong"
    # The old cookie no longer opens a socket.
    again = WS(ws_connect(live, "/ws/operator", cookie=cookie))
    with pytest.raises(ConnectionClosed):
        again.recv()


# --- the sockets' database threads ----------------------------------------------------------

def test_a_database_call_ending_after_its_threads_close_leaves_no_connection_open(
        transactional_db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """close_db_threads closes each thread's connection, then ends the threads; a call that
    reaches a thread after that closing must close its own connection too, or the ended
    thread leaves a PostgreSQL session open until the garbage collector finds it."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from plug2support.realtime import dbthreads

    settings.SOCKET_DB_THREADS = 2  # the sockets' own threads (SQLite's default is asgiref's)
    threads = ThreadPoolExecutor(1, thread_name_prefix="test-socket-db")
    monkeypatch.setattr(dbthreads, "_db_executor", threads)
    monkeypatch.setattr(dbthreads, "_wrapped", {})
    used: list[Any] = []

    def query() -> None:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
        used.append(connections["default"])

    wrapped = dbthreads.db(query)  # bound to `threads`, as a socket's call under way is

    async def awaited() -> None:
        await wrapped()

    def call() -> None:
        # In a thread of its own: the browser tests' Playwright keeps a loop in this one.
        with ThreadPoolExecutor(1) as caller:
            caller.submit(asyncio.run, awaited()).result()

    try:
        call()
        assert used[0].connection is not None  # a working thread keeps its connection
        monkeypatch.setattr(dbthreads, "_db_executor", None)  # as close_db_threads begins
        call()
        assert used[1] is used[0] and used[1].connection is None
    finally:
        threads.submit(connections.close_all).result()
        threads.shutdown(wait=True)


def test_a_database_thread_keeps_one_cache_backend_for_every_socket_task(
        settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each socket task starts from an empty context (sockets.spawn), and Django keeps its
    cache backends per context: run there, every message built a new backend, and with Redis
    a new connection pool and connection. A thread now keeps one backend across tasks."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from django.core.cache import caches

    from plug2support.realtime import dbthreads, sockets

    settings.SOCKET_DB_THREADS = 2
    threads = ThreadPoolExecutor(1, thread_name_prefix="test-socket-db")
    monkeypatch.setattr(dbthreads, "_db_executor", threads)
    monkeypatch.setattr(dbthreads, "_wrapped", {})
    backends: list[Any] = []

    def rate_limited() -> None:  # what every visitor message does (lib/ratelimit.hit)
        caches["default"].add("test-socket-cache", 1)
        backends.append(caches["default"])

    wrapped = dbthreads.db(rate_limited)

    async def tasks() -> None:
        done = asyncio.Event()

        async def one() -> None:
            await wrapped()
            if len(backends) == 3:
                done.set()

        for _ in range(3):
            sockets.spawn(one())  # each in a context of its own, as a socket's frames are
        await asyncio.wait_for(done.wait(), 10)

    try:
        with ThreadPoolExecutor(1) as caller:  # Playwright may keep a loop in this thread
            caller.submit(asyncio.run, tasks()).result()
    finally:
        threads.shutdown(wait=True)
    assert len(backends) == 3
    assert backends[0] is backends[1] is backends[2]
