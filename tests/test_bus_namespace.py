"""Two deployments on one Redis (issue 15, O4): Redis shares pub/sub channels across its
database numbers, so the bus channel names REDIS_PREFIX and the URL's database number, and a
message published by one deployment never reaches the other. Cache keys carry the prefix."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from plug2support.realtime.hub import Hub, RedisBus, channel_name

from .redis_process import RedisProcess, running_redis


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    yield from running_redis()


class Catcher:
    def __init__(self) -> None:
        self.got: list[Mapping[str, Any]] = []
        self.arrived = asyncio.Event()

    def deliver(self, topic: str, payload: Mapping[str, Any]) -> None:
        self.got.append(dict(payload))
        self.arrived.set()

    async def wait_for(self, what: str) -> None:
        while not any(p.get("what") == what for p in self.got):
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), timeout=10)


def run(coroutine: Any) -> Any:
    # Its own thread and loop: the browser tests' Playwright keeps a loop running in this one.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(lambda: asyncio.run(coroutine)).result()


async def _isolated(url_one: str, prefix_one: str, url_two: str, prefix_two: str
                    ) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """Deployment one has two processes (hubs), deployment two has two. One publishes; its
    peer hears it (so Redis has handled it); then deployment two publishes a marker. Redis
    delivers to a subscriber in the order it handled the publishes, so had deployment two's
    subscriber been on deployment one's channel, the first message would come before the
    marker."""
    hubs = []
    for url, prefix in ((url_one, prefix_one), (url_one, prefix_one),
                        (url_two, prefix_two), (url_two, prefix_two)):
        hub = Hub()
        hub._bus = RedisBus(hub, url, prefix)
        await hub.start()
        hubs.append(hub)
    one_sender, one_peer, two_sender, two_peer = hubs
    heard_by_one, heard_by_two = Catcher(), Catcher()
    one_peer.subscribe(heard_by_one, "conv:1")
    two_peer.subscribe(heard_by_two, "conv:1")
    try:
        one_sender.publish("conv:1", {"what": "secret", "body": "deployment one's message"})
        await heard_by_one.wait_for("secret")
        two_sender.publish("conv:1", {"what": "marker"})
        await heard_by_two.wait_for("marker")
    finally:
        for hub in hubs:
            await hub.stop()
    return heard_by_one.got, heard_by_two.got


def test_a_deployment_with_another_prefix_never_hears_this_ones_messages(
        redis_server: RedisProcess) -> None:
    url = redis_server.url(0)
    one, two = run(_isolated(url, "alpha", url, "beta"))
    assert [p["what"] for p in one] == ["secret"]
    assert [p["what"] for p in two] == ["marker"]


def test_a_deployment_on_another_database_number_never_hears_this_ones_messages(
        redis_server: RedisProcess) -> None:
    one, two = run(_isolated(redis_server.url(0), "p2s", redis_server.url(1), "p2s"))
    assert [p["what"] for p in one] == ["secret"]
    assert [p["what"] for p in two] == ["marker"]


def test_the_channel_names_the_prefix_and_the_database_number() -> None:
    assert channel_name("redis://127.0.0.1:6379/3", "shop") == "shop:events:db3"
    assert channel_name("redis://127.0.0.1:6379", "shop") == "shop:events:db0"
    assert channel_name("redis://127.0.0.1:6379/?db=2", "") == "events:db2"
    assert (channel_name("redis://h/0", "a") != channel_name("redis://h/0", "b")
            != channel_name("redis://h/1", "b"))


def test_the_bus_publishes_nothing_on_the_old_shared_channel(
        redis_server: RedisProcess) -> None:
    """What went on `p2s:events`, shared by every deployment, goes on the deployment's own."""
    listener = redis.Redis(port=redis_server.port).pubsub(ignore_subscribe_messages=True)
    listener.subscribe("p2s:events", "shop:events:db0")

    async def publish() -> None:
        hub = Hub()
        hub._bus = RedisBus(hub, redis_server.url(0), "shop")
        await hub.start()
        hub.publish("conv:9", {"what": "x"})
        await hub.stop()  # sends what was published first

    run(publish())
    message = None
    while message is None:
        message = listener.get_message(timeout=10)
    assert message["channel"] == b"shop:events:db0"
    listener.close()


def test_cache_keys_carry_the_redis_prefix(redis_server: RedisProcess) -> None:
    """Settings as a deployment reads them: REDIS_PREFIX becomes the cache's KEY_PREFIX."""
    code = ("import json, django; django.setup(); from django.conf import settings;"
            "from django.core.cache import cache; cache.set('k', 1);"
            "print(json.dumps(settings.CACHES['default']['KEY_PREFIX']))")
    root = Path(__file__).resolve().parent.parent
    keys = {}
    for prefix in ("alpha", "beta"):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "plug2support.settings",
               "REDIS_URL": redis_server.url(0), "REDIS_PREFIX": prefix}
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, check=True,
                             capture_output=True, text=True).stdout
        keys[prefix] = json.loads(out.strip().splitlines()[-1])
    assert keys == {"alpha": "alpha", "beta": "beta"}
    stored = sorted(str(k, "ascii") for k in redis_server.client().keys("*"))  # type: ignore[arg-type]
    assert stored == ["alpha:1:k", "beta:1:k"]
