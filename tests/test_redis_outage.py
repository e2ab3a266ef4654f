"""Chat goes on while Redis is down (issue 15, O5), with a Redis server the test starts and
stops (tests/redis_process.py), never the shared one: the cache falls back to each process's
memory (the block state is read from the database), rate limits count locally, a publish
never fails the message that committed, this process's sockets hear it live, the bus
subscribes again when Redis returns and the other processes catch up by sequence number."""

from __future__ import annotations

import asyncio
import pickle
import threading
import urllib.request
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from plug2support.billing.access import _cache_key, block_changed, communication_block
from plug2support.billing.models import BlockReason, Subscription
from plug2support.conversations.models import Event
from plug2support.lib import cache as shared_cache
from plug2support.lib.cache import SharedRedisCache
from plug2support.lib.ratelimit import hit
from plug2support.realtime.hub import Hub, RedisBus, channel_name

from .conftest import Tenant, make_tenant, open_operator, open_visitor
from .redis_process import RedisProcess, running_redis, wait_for
from .test_multiprocess import running_servers

# --- the cache --------------------------------------------------------------------------------


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    yield from running_redis()


@pytest.fixture
def redis_cache(redis_server: RedisProcess, settings: Any) -> Iterator[SharedRedisCache]:
    """The product's cache backend on the test's own Redis, as settings.py configures it."""
    url = redis_server.url(0)
    settings.CACHES = {"default": {
        "BACKEND": "plug2support.lib.cache.SharedRedisCache", "LOCATION": url,
        "KEY_PREFIX": "outage", "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    # Django's setting_changed handler replaces the cache backends.
    from django.core.cache import caches

    yield caches["default"]  # type: ignore[misc]
    shared_cache._outages.pop(url, None)


def _retry_now() -> None:
    """Skip the back-off: the next operation tries Redis (what time would do)."""
    for outage in shared_cache._outages.values():
        outage.retry_at = 0.0


def test_the_block_state_is_read_from_the_database_while_redis_is_down(
        redis_server: RedisProcess, redis_cache: Any, acme: Tenant) -> None:
    assert communication_block(acme.company.pk) is None  # cached in Redis: not blocked
    redis_server.stop()
    Subscription.objects.filter(company=acme.company).update(payment_blocked=True,
                                                             paid_until=None)
    block_changed(acme.company.pk)  # the delete cannot reach Redis: remembered
    assert communication_block(acme.company.pk) == BlockReason.PAYMENT  # from the database
    assert redis_cache.get("anything") is None and redis_cache.add("x", 1) is True


def test_keys_changed_during_the_outage_leave_redis_when_it_answers_again(
        redis_server: RedisProcess, redis_cache: Any, acme: Tenant) -> None:
    communication_block(acme.company.pk)  # Redis holds "not blocked" for 60 s
    redis_server.stop()
    Subscription.objects.filter(company=acme.company).update(payment_blocked=True,
                                                             paid_until=None)
    block_changed(acme.company.pk)
    redis_server.start()  # a fresh server here; in life, Redis comes back with its data
    key = redis_cache.make_key(_cache_key(acme.company.pk))
    stale = pickle.dumps(("", None))  # "not blocked", as cached before the outage
    redis_server.client().set(key, stale)
    _retry_now()
    assert communication_block(acme.company.pk) == BlockReason.PAYMENT
    assert redis_server.client().get(key) != stale


def test_rate_limits_count_in_the_process_while_redis_is_down(
        redis_server: RedisProcess, redis_cache: Any) -> None:
    redis_server.stop()
    assert [hit("outage-test", 3, 60) for _ in range(5)] == [True, True, True, False, False]
    redis_server.start()
    _retry_now()
    assert hit("outage-test", 3, 60) is True  # Redis counts again, from its own state
    assert redis_cache.get("outage-local") is None


# --- the bus ----------------------------------------------------------------------------------


class Catcher:
    def __init__(self) -> None:
        self.got: list[Mapping[str, Any]] = []
        self.arrived = asyncio.Event()
        self.resumes = 0
        self.resumed_event = asyncio.Event()

    def deliver(self, topic: str, payload: Mapping[str, Any]) -> None:
        self.got.append(dict(payload))
        self.arrived.set()

    def resumed(self) -> None:
        self.resumes += 1
        self.resumed_event.set()

    async def wait_for(self, n: int) -> None:
        while not any(p.get("n") == n for p in self.got):
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), timeout=15)


def test_the_bus_keeps_local_delivery_and_comes_back_after_redis_returns(
        redis_server: RedisProcess) -> None:
    url = redis_server.url(0)

    async def scenario() -> tuple[Catcher, Catcher]:
        here_hub, there_hub = Hub(), Hub()
        for hub in (here_hub, there_hub):
            hub._bus = RedisBus(hub, url, "outage")
            await hub.start()
        here, there = Catcher(), Catcher()
        here_hub.subscribe(here, "conv:1")
        there_hub.subscribe(there, "conv:1")
        try:
            here_hub.publish("conv:1", {"n": 1})
            await there.wait_for(1)
            await asyncio.to_thread(redis_server.stop)
            # From the loop and from a database thread: neither raises, and this process's
            # own listener hears both at once.
            here_hub.publish("conv:1", {"n": 2})
            await asyncio.to_thread(here_hub.publish, "conv:1", {"n": 3})
            await here.wait_for(3)
            await asyncio.to_thread(redis_server.start)
            await asyncio.wait_for(there.resumed_event.wait(), timeout=20)
            here_hub.publish("conv:1", {"n": 4})
            await there.wait_for(4)
        finally:
            for hub in (here_hub, there_hub):
                await hub.stop()
        return here, there

    with ThreadPoolExecutor(1) as thread:
        here, there = thread.submit(lambda: asyncio.run(scenario())).result()
    assert [p["n"] for p in here.got] == [1, 2, 3, 4]  # once each: its own never come back
    assert [p["n"] for p in there.got][0] == 1 and there.got[-1]["n"] == 4
    assert there.resumes == 1


def test_a_publish_without_a_running_hub_does_not_raise_while_redis_is_down(
        redis_server: RedisProcess) -> None:
    """A worker or a command publishes synchronously: a failure is logged, not raised."""
    hub = Hub()
    hub._bus = RedisBus(hub, redis_server.url(0), "outage")
    redis_server.stop()
    hub.publish("conv:1", {"n": 1})
    threading.Thread(target=hub.publish, args=("conv:1", {"n": 2})).start()


# --- two real processes -----------------------------------------------------------------------


@pytest.fixture
def two_processes(redis_server: RedisProcess, transactional_db: Any
                  ) -> Iterator[tuple[str, str]]:
    with running_servers(REDIS_URL=redis_server.url(0), REDIS_PREFIX="outage") as urls:
        yield urls


def test_chat_goes_on_while_redis_is_down_and_the_other_process_catches_up(
        redis_server: RedisProcess, two_processes: tuple[str, str]) -> None:
    first, second = two_processes
    channel = channel_name(redis_server.url(0), "outage")
    acme = make_tenant("Acme")
    make_tenant("Globex")
    here = open_operator(first, acme.operators[0])  # the visitor's own process
    there = open_operator(second, acme.operators[1])
    visitor, welcome = open_visitor(first, acme.widget)

    opened = visitor.request({"type": "message", "client_id": "v1", "body": "Before"})
    conversation = opened["conversation"]
    there.recv_until(lambda f: f["type"] == "conversation")
    for operator in (here, there):
        operator.request({"type": "subscribe", "conversation": conversation, "after": 0})
        operator.recv_until(lambda f: f["type"] == "event" and f["body"] == "Before")

    redis_server.stop()
    during = visitor.request({"type": "message", "client_id": "v2", "body": "During"})
    assert during["type"] == "ack", during
    assert Event.objects.filter(conversation_id=conversation, body="During").exists()
    live = here.recv_until(lambda f: f["type"] == "event" and f["body"] == "During")
    assert live["seq"] == during["seq"]
    assert visitor.request({"type": "ping"})["type"] == "pong"  # still open: no 1011
    with urllib.request.urlopen(f"{first}/health", timeout=5) as response:
        assert response.status == 200

    redis_server.start()
    wait_for(lambda: redis_server.subscribers(channel) == 2, what="both processes subscribed")
    after = visitor.request({"type": "message", "client_id": "v3", "body": "After"})
    # The other process hears new events again, and fills the gap by sequence number first.
    missed = there.recv_until(lambda f: f["type"] == "event" and f["body"] == "During")
    latest = there.recv_until(lambda f: f["type"] == "event" and f["body"] == "After")
    assert (missed["seq"], latest["seq"]) == (during["seq"], after["seq"])

    # A client that reconnects to the other process resumes from its sequence number.
    visitor.close()
    resumed, _ = open_visitor(second, acme.widget, token=welcome["token"],
                              conversation=conversation, after=opened["seq"])
    bodies = [resumed.recv_until(lambda f: f["type"] == "event")["body"] for _ in range(2)]
    assert bodies == ["During", "After"]


def test_widgets_cached_before_an_outage_are_read_again_after_it(acme: Tenant) -> None:
    """A widget saved in another process while the bus was away went unheard: when the bus
    subscribes again, the process's widget cache starts afresh."""
    from plug2support.realtime.hub import hub
    from plug2support.widgets import cache as widget_cache

    widget_cache.get(acme.widget.key)
    # As the lifespan startup subscribes it (a live server may have already).
    already = widget_cache.invalidator in hub.topics.get(widget_cache.WIDGETS_TOPIC, ())
    hub.subscribe(widget_cache.invalidator, widget_cache.WIDGETS_TOPIC)
    try:
        hub.resumed()
    finally:
        if not already:
            hub.unsubscribe(widget_cache.invalidator, widget_cache.WIDGETS_TOPIC)
    assert widget_cache.peek(acme.widget.key) is widget_cache.MISSING
