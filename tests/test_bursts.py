"""Bursts of new conversations and a console's reconnect (issue 15, point 12). A first
message now runs on fixed SQL (conversations/first_message.py) and a console's subscribes on a lane
of their own (realtime/endpoints/operator.py, OperatorSocket): what they must keep — every first
message acknowledged once, one conversation each, routed once; the contact rules decided as before;
a reconnecting console answered while its catch-up waits, and that catch-up complete and in
order. How fast is bench/burst.py's business, never asserted here."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from websockets.asyncio.client import connect
from websockets.typing import Origin

from plug2support.accounts.models import Membership
from plug2support.contacts import actions as contacts
from plug2support.contacts.identity import expected_hash
from plug2support.contacts.models import CustomerOrg
from plug2support.conversations import metrics, spam
from plug2support.conversations.access import events_after
from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.first_message import lock_and_read
from plug2support.conversations.models import (
    Conversation,
    Event,
    EventKind,
    OperatorGroup,
    RoutingRule,
    Stage,
)
from plug2support.notifications.models import Notification
from plug2support.realtime import sockets
from plug2support.realtime.endpoints import operator as operator_endpoint
from plug2support.widgets.models import Visitor

from .conftest import WS, Tenant, open_operator, ws_url

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK")


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries
            if not q["sql"].startswith(TRANSACTION_CONTROL)]


def new_visitor(tenant: Tenant) -> Visitor:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    return visitor


# --- the first message's statements ---------------------------------------------------------

def test_a_first_message_is_four_fixed_statements(acme: Tenant) -> None:
    """The current conversation (none), the visitor's lock and one read (SQLite: the read
    alone), the conversation with its first event (SQLite: two inserts). It was a dozen,
    most of them built anew by the ORM for every first message."""
    do_post_visitor_message(new_visitor(acme), client_id="m", body="Hi")  # warm caches
    visitor = new_visitor(acme)
    with CaptureQueriesContext(connection) as captured:
        posted = do_post_visitor_message(visitor, client_id="m1", body="Hello")
    assert len(statements(captured)) == 4, statements(captured)
    conversation = Conversation.objects.get(pk=posted.event.conversation_id)
    assert (conversation.stage, conversation.last_seq, conversation.preview) == (
        Stage.NEW, 1, "Hello")
    assert conversation.waiting_since == posted.event.created_at
    event = Event.objects.get(conversation=conversation)
    assert (event.seq, event.kind, event.sender, event.body, event.client_id) == (
        1, EventKind.MESSAGE, "visitor", "Hello", "m1")


def test_a_caller_that_saw_no_conversation_skips_a_statement_and_still_finds_one(
        acme: Tenant) -> None:
    """`none_seen` (a widget socket following no conversation) leaves the look for the
    current conversation to the visitor's lock: a statement less for a first message, and
    another tab's conversation, or this message already stored, is found all the same."""
    do_post_visitor_message(new_visitor(acme), client_id="m", body="Hi")  # warm caches
    visitor = new_visitor(acme)
    with CaptureQueriesContext(connection) as captured:
        first = do_post_visitor_message(visitor, client_id="m1", body="Hello",
                                        none_seen=True).event
    assert len(statements(captured)) == 3, statements(captured)
    assert first.seq == 1
    other_tab = do_post_visitor_message(visitor, client_id="m2", body="Still there?",
                                        none_seen=True)
    assert (other_tab.event.conversation_id, other_tab.event.seq) == (first.conversation_id, 2)
    again = do_post_visitor_message(visitor, client_id="m1", body="Hello",
                                    none_seen=True)
    assert again.duplicate and (again.event.pk, again.event.seq) == (first.pk, 1)
    with pytest.raises(ConversationError) as refused:
        do_post_visitor_message(visitor, client_id="m1", body="Another text",
                                none_seen=True)
    assert refused.value.code == "client_id_reused"
    assert Conversation.objects.filter(visitor=visitor).count() == 1


def test_a_replay_reads_attachments_only_when_an_event_has_some(acme: Tenant) -> None:
    visitor = new_visitor(acme)
    first = do_post_visitor_message(visitor, client_id="m1", body="Hello").event
    do_post_visitor_message(visitor, client_id="m2", body="Anyone?")
    with CaptureQueriesContext(connection) as captured:
        events = events_after(first.conversation_id, 0, visitor=True)
    assert len(captured.captured_queries) == 1
    assert [(e.seq, e.body, e.author, e.attachment_payloads) for e in events] == [  # type: ignore[attr-defined]
        (1, "Hello", None, []), (2, "Anyone?", None, [])]


def test_the_opening_read_decides_as_the_contact_rules_do(acme: Tenant, globex: Tenant) -> None:
    """Priority (D9) and the default owner (D8) from the one statement agree with
    contacts.actions' readable rules, case by case."""
    alice = acme.operators[0]
    CustomerOrg.objects.create(company=acme.company, name="Initech", domain="initech.example",
                               default_owner=alice)
    CustomerOrg.objects.create(company=acme.company, name="Umbrella", domain="umbrella.example")
    anonymous, no_org, customer, ownerless, verified = (new_visitor(acme) for _ in range(5))
    contacts.do_claim_email(no_org, "joe@unknown.example")
    contacts.do_claim_email(customer, "peter@initech.example")
    contacts.do_claim_email(ownerless, "ada@umbrella.example")
    contacts.do_identify(verified, user_id="u1",
                         user_hash=expected_hash(acme.widget.secret, "u1"),
                         email="milton@initech.example")

    def decided(visitor: Visitor) -> tuple[int, Any, Any]:
        now = timezone.now()
        with transaction.atomic():
            opening = lock_and_read(visitor, now)
        return (opening.priority(now), opening.default_owner,
                (contacts.priority_hint(visitor, at=now), contacts.default_owner_for(visitor)))

    for visitor, expected in [(anonymous, (0, None)), (no_org, (0, None)),
                              (customer, (1, alice)), (ownerless, (1, None)),
                              (verified, (1, alice))]:
        priority, owner, rules = decided(visitor)
        assert (priority, owner) == expected == rules
    Membership.objects.filter(user=alice, company=acme.company).delete()
    priority, owner, rules = decided(customer)
    assert (priority, owner) == (1, None) == rules


def test_the_opening_read_sees_another_tabs_conversation_and_the_rules(acme: Tenant) -> None:
    visitor = new_visitor(acme)
    with transaction.atomic():
        opening = lock_and_read(visitor, timezone.now())
    assert (opening.current_id, opening.recent, opening.has_rules) == (None, 0, False)
    posted = do_post_visitor_message(visitor, client_id="m1", body="Hello")
    RoutingRule.objects.create(company=acme.company, name="r", keywords="refund",
                               target_user=acme.operators[0])
    with transaction.atomic():
        opening = lock_and_read(visitor, timezone.now())
    assert (opening.current_id, opening.recent, opening.has_rules) == (
        posted.event.conversation_id, 1, True)
    Conversation.objects.filter(pk=posted.event.conversation_id).update(stage=Stage.ARCHIVED)
    with transaction.atomic():
        opening = lock_and_read(visitor, timezone.now())
    assert (opening.current_id, opening.recent) == (None, 1)  # archived: a new one opens


@pytest.mark.django_db(transaction=True)
def test_two_tabs_first_messages_at_once_open_one_conversation(acme: Tenant) -> None:
    """Each on its own connection, at once: the second waits for the visitor's lock, then
    finds the first's conversation (a statement after the lock sees it) and adds to it."""
    visitor = new_visitor(acme)
    barrier = threading.Barrier(2)
    posted: dict[str, Any] = {}
    failures: list[BaseException] = []

    def send(client_id: str) -> None:
        try:
            barrier.wait(timeout=10)
            posted[client_id] = do_post_visitor_message(
                visitor, client_id=client_id, body=f"from {client_id}")
        except BaseException as error:  # noqa: BLE001 (reported below)
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(tab,)) for tab in ("tab1", "tab2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures
    conversation = Conversation.objects.get(visitor=visitor)
    assert {p.event.conversation_id for p in posted.values()} == {conversation.pk}
    assert sorted(p.event.seq for p in posted.values()) == [1, 2]
    assert conversation.last_seq == 2
    assert sorted(str(cid) for cid in Event.objects.filter(
        conversation=conversation).values_list("client_id", flat=True)) == ["tab1", "tab2"]


# --- a burst over real sockets --------------------------------------------------------------

BURST = 200


async def _burst(base: str, widget_key: str, tokens: list[str], operator_cookie: str
                 ) -> dict[str, Any]:
    """Every visitor says hello, then all send their first message at once; each socket
    then pings, so its pong comes after every reply to the message (a socket answers its
    frames in order). The operator's socket collects what it is pushed meanwhile."""
    origin = Origin(base)
    pushed: list[dict[str, Any]] = []
    operator = await connect(ws_url(base, "/ws/operator"), origin=origin,
                             additional_headers={"Cookie": operator_cookie})
    while json.loads(await operator.recv())["type"] != "inbox":
        pass

    async def listen() -> None:
        async for raw in operator:
            pushed.append(json.loads(raw))

    listener = asyncio.create_task(listen())
    visitors = [await connect(ws_url(base, "/ws/widget"), origin=origin) for _ in tokens]
    for ws, token in zip(visitors, tokens, strict=True):
        await ws.send(json.dumps({"type": "hello", "widget": widget_key, "token": token}))
    for ws in visitors:
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome" and welcome["conversation"] is None, welcome
    for i, ws in enumerate(visitors):
        await ws.send(json.dumps({"type": "message", "ref": i, "client_id": f"first-{i}",
                                  "body": f"#{i}: where is my order?"}))
    for ws in visitors:
        await ws.send(json.dumps({"type": "ping", "ref": "barrier"}))

    async def replies(ws: Any) -> list[dict[str, Any]]:
        frames: list[dict[str, Any]] = []
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("ref") == "barrier":
                return frames
            frames.append(frame)

    answered = await asyncio.wait_for(asyncio.gather(*(replies(ws) for ws in visitors)), 60)
    for ws in visitors:
        await ws.close()
    await operator.close()
    await listener
    return {"answered": answered, "pushed": pushed}


def test_many_first_messages_at_once_are_each_acked_once_stored_once_routed_once(
        live: str, tenants: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from .conftest import session_cookie

    # Every socket here comes from 127.0.0.1: the spam filter's per-address rule (10 new
    # conversations an hour) would suspend all but ten, which take no routing.
    monkeypatch.setattr(spam, "MAX_NEW_CONVERSATIONS_PER_IP_PER_HOUR", 10**6)
    acme, globex = tenants
    alice, bob = acme.operators
    orders = OperatorGroup.objects.create(company=acme.company, name="Orders")
    orders.members.set([alice, bob])
    RoutingRule.objects.create(company=acme.company, name="orders", keywords="order",
                               target_group=orders)
    tokens = [do_identify_visitor(acme.widget, None)[1] for _ in range(BURST)]
    cookie = session_cookie(alice)
    # Its own thread and loop: the browser tests' Playwright keeps a loop running in this one.
    with ThreadPoolExecutor(1) as thread:
        result = thread.submit(
            lambda: asyncio.run(_burst(live, acme.widget.key, tokens, cookie))).result()

    acks = []
    for i, frames in enumerate(result["answered"]):
        mine = [f for f in frames if f.get("ref") == i]
        assert [f["type"] for f in mine] == ["ack"], frames
        acks.append(mine[0])
    assert all(ack["seq"] == 1 and not ack["duplicate"] for ack in acks)
    conversation_ids = {ack["conversation"] for ack in acks}
    assert len(conversation_ids) == BURST
    conversations = Conversation.objects.filter(company=acme.company)
    assert conversations.count() == BURST
    assert set(conversations.values_list("pk", flat=True)) == conversation_ids
    assert conversations.filter(group=orders, stage=Stage.NEW, last_seq=2).count() == BURST
    events = Event.objects.filter(conversation__company=acme.company)
    assert events.filter(kind=EventKind.MESSAGE).count() == BURST
    assert events.filter(kind=EventKind.ROUTED).count() == BURST
    assert set(events.values_list("conversation_id", "seq", "kind")) == {
        (pk, seq, kind) for pk in conversation_ids
        for seq, kind in ((1, EventKind.MESSAGE), (2, EventKind.ROUTED))}
    for person in (alice, bob):
        notified = Notification.objects.filter(user=person, company=acme.company,
                                               kind="routed")
        assert notified.count() == BURST
    # Every new conversation reached the operator's inbox; the other company heard nothing.
    summaries = {f["conversation"]["id"] for f in result["pushed"]
                 if f["type"] == "conversation"}
    assert summaries == conversation_ids
    assert not Conversation.objects.filter(company=globex.company).exists()


def test_a_socket_follows_the_conversation_its_first_message_opens_without_reading_it_back(
        live: str, tenants: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The widget socket follows its new conversation from inside the transaction that
    opens it, before the commit publishes anything: its events come live, in order, with no
    replay (which read them back from the database after the commit). A message that opens
    a conversation and is then rolled back (an unknown attachment) leaves nothing followed."""
    from plug2support.realtime.hub import hub

    from .conftest import open_visitor

    def unreadable(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a first message must not be read back")

    acme, _ = tenants
    before = Conversation.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    visitor, welcome = open_visitor(live, acme.widget)
    assert welcome["conversation"] is None
    monkeypatch.setattr(sockets, "events_after", unreadable)
    refused = visitor.request({"type": "message", "client_id": "m0", "body": "see this",
                               "attachments": [987654321]})
    assert (refused["type"], refused["code"]) == ("error", "not_found")
    assert not Conversation.objects.filter(pk__gt=before).exists()
    assert all(hub.listener_count(f"conv:{pk}") == 0 for pk in range(before + 1, before + 3))
    ack = visitor.request({"type": "message", "client_id": "m1", "body": "Hello"})
    assert (ack["type"], ack["seq"]) == ("ack", 1)
    second = visitor.request({"type": "message", "client_id": "m2", "body": "Anyone?"})
    assert second["seq"] == 2
    events = [visitor.recv_until(lambda f: f["type"] == "event") for _ in range(2)]
    assert [(e["conversation"], e["seq"], e["client_id"]) for e in events] == [
        (ack["conversation"], 1, "m1"), (ack["conversation"], 2, "m2")]
    assert visitor.request({"type": "ping"})["type"] == "pong"  # still open: no replay ran
    visitor.close()


# --- a console's reconnect ------------------------------------------------------------------

@pytest.fixture
def held_metrics(monkeypatch: pytest.MonkeyPatch, settings: Any
                 ) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Answering a subscribe computes the conversation's metrics: the first such
    computation waits for `release` (set `entered` first). Several database threads, as on
    PostgreSQL (SQLite's default is one), so one waiting leaves the others free."""
    if settings.SOCKET_DB_THREADS <= 1:
        settings.SOCKET_DB_THREADS = 4
    entered, release = threading.Event(), threading.Event()
    real = metrics.compute

    def held(*args: Any, **kwargs: Any) -> Any:
        if not entered.is_set():
            entered.set()
            assert release.wait(timeout=20)
        return real(*args, **kwargs)

    monkeypatch.setattr(metrics, "compute", held)
    yield entered, release
    release.set()


def conversations_with_history(tenant: Tenant, count: int, messages: int) -> list[int]:
    ids = []
    for _ in range(count):
        visitor = new_visitor(tenant)
        for m in range(messages):
            posted = do_post_visitor_message(visitor, client_id=f"m{m}",
                                             body=f"message {m}")
        ids.append(posted.event.conversation_id)
    return ids


def events_until_complete(operator: WS, last_seqs: dict[int, int]) -> dict[int, list[int]]:
    """Events of these conversations as they come, until each has reached its last seq."""
    seen: dict[int, list[int]] = {pk: [] for pk in last_seqs}
    while any((seqs[-1] if seqs else 0) < last_seqs[pk] for pk, seqs in seen.items()):
        frame = operator.recv_until(
            lambda f: f["type"] == "event" and f["conversation"] in last_seqs)
        seen[frame["conversation"]].append(frame["seq"])
    return seen


def test_a_reconnecting_console_is_answered_while_its_catch_up_waits(
        live: str, tenants: Any, held_metrics: tuple[threading.Event, threading.Event]
        ) -> None:
    """A console following 30 conversations reconnects, subscribes to them all with `after`
    0, then replies in one of them. Its reply is acknowledged while the subscribes still
    wait at the database (their frames used to be handled first, in order); then every
    subscribe is answered once and every conversation's events come, in order, each once."""
    entered, release = held_metrics
    acme, _ = tenants
    followed = conversations_with_history(acme, 30, 3)
    operator = open_operator(live, acme.operators[0])
    for n, pk in enumerate(followed):
        operator.send({"type": "subscribe", "ref": f"s{n}", "conversation": pk, "after": 0})
    assert entered.wait(timeout=10)  # the catch-up is at the database
    reply = operator.request({"type": "message", "conversation": followed[7],
                              "client_id": "reply-1", "body": "Looking into it now."})
    assert reply["type"] == "ack" and not reply["duplicate"], reply
    assert not [f for f in operator.backlog if f["type"] in ("subscribed", "event")]
    release.set()
    answered = [operator.recv_until(lambda f, ref=f"s{n}": f.get("ref") == ref)
                for n in range(len(followed))]
    assert [(f["type"], f["conversation"]["id"]) for f in answered] == [
        ("subscribed", pk) for pk in followed]
    last_seqs = dict(Conversation.objects.filter(pk__in=followed).values_list("pk", "last_seq"))
    assert last_seqs[followed[7]] > 3  # the reply (and its claim) came after the history
    seen = events_until_complete(operator, last_seqs)
    assert seen == {pk: list(range(1, last + 1)) for pk, last in last_seqs.items()}
    operator.close()


def test_subscribes_and_unsubscribes_are_carried_out_in_the_order_sent(
        live: str, tenants: Any, held_metrics: tuple[threading.Event, threading.Event]
        ) -> None:
    entered, release = held_metrics
    acme, globex = tenants
    x, y = conversations_with_history(acme, 2, 2)
    foreign = conversations_with_history(globex, 1, 1)[0]
    operator = open_operator(live, acme.operators[0])
    for frame in ({"type": "subscribe", "ref": "s1", "conversation": x, "after": 0},
                  {"type": "unsubscribe", "ref": "u1", "conversation": x},
                  {"type": "subscribe", "ref": "s2", "conversation": foreign},
                  {"type": "subscribe", "ref": "s3", "conversation": f" {y}"},
                  {"type": "subscribe", "ref": "s4", "conversation": y, "after": 1}):
        operator.send(frame)
    assert entered.wait(timeout=10)
    release.set()
    replies = [operator.recv_until(lambda f: f.get("ref") in ("s1", "u1", "s2", "s3", "s4"))
               for _ in range(5)]
    assert [(f["ref"], f["type"], f.get("code")) for f in replies] == [
        ("s1", "subscribed", None), ("u1", "unsubscribed", None), ("s2", "error", "not_found"),
        ("s3", "error", "not_found"), ("s4", "subscribed", None)]
    # x is no longer followed: its next event does not come; y's does, after its history.
    do_post_visitor_message(Conversation.objects.get(pk=x).visitor, client_id="late",
                            body="still there?")
    late = do_post_visitor_message(Conversation.objects.get(pk=y).visitor,
                                   client_id="late", body="hello?").event
    assert events_until_complete(operator, {y: late.seq}) == {y: [2, late.seq]}
    assert not [f for f in operator.backlog
                if f["type"] == "event" and f["conversation"] == x and f["seq"] > 2]
    operator.close()


def test_subscribes_past_the_waiting_limit_are_all_answered(
        live: str, tenants: Any, held_metrics: tuple[threading.Event, threading.Event],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Past SUBSCRIBES_WAITING not yet answered, the console's other frames wait for room
    (what a socket keeps for one console is bounded); once there is room they go on."""
    monkeypatch.setattr(operator_endpoint, "SUBSCRIBES_WAITING", 4)
    monkeypatch.setattr(operator_endpoint, "SUBSCRIBE_BATCH", 2)
    entered, release = held_metrics
    acme, _ = tenants
    followed = conversations_with_history(acme, 10, 1)
    operator = open_operator(live, acme.operators[0])
    for n, pk in enumerate(followed):
        operator.send({"type": "subscribe", "ref": f"s{n}", "conversation": pk, "after": 0})
    operator.send({"type": "ping", "ref": "after"})
    assert entered.wait(timeout=10)
    release.set()
    assert operator.recv_until(lambda f: f.get("ref") == "after")["type"] == "pong"
    answered = [operator.recv_until(lambda f, ref=f"s{n}": f.get("ref") == ref)["type"]
                for n in range(len(followed))]
    assert answered == ["subscribed"] * len(followed)
    operator.close()
