"""The hub hands each bus message to its listeners with the payload's JSON text, encoded once
per publish; a socket sends that text unless the frame was changed."""

from __future__ import annotations

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from plug2support.realtime.hub import Frame, Hub, RedisBus, encode

from .conftest import REDIS, needs_redis


class Catcher:
    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, Any]]] = []

    def deliver(self, topic: str, payload: dict[str, Any]) -> None:
        self.got.append((topic, payload))


def test_listeners_get_the_payload_and_its_text_as_published() -> None:
    hub = Hub()
    first, second = Catcher(), Catcher()
    topic = 'conv:7 "quoted", \\"p\\": and ünïcode'
    payload = {"type": "event", "body": '{"t":1,"p":2} é 😀 </script>', "seq": 3,
               "nested": {"p": [1, None, True]}}
    for listener in (first, second):
        hub.subscribe(listener, topic)
    hub.dispatch(encode(topic, payload).encode())  # as the Redis bus hands it over: bytes
    for listener in (first, second):
        [(got_topic, frame)] = listener.got
        assert got_topic == topic and frame == payload
        assert isinstance(frame, Frame)
        assert frame.text == json.dumps(payload, separators=(",", ":"))


def test_a_changed_frame_is_encoded_again() -> None:
    frame = Frame({"type": "event", "seq": 1}, '{"type":"event","seq":1}')
    frame["ref"] = "r1"
    assert frame.text is None
    for change in (lambda f: f.update(a=1), lambda f: f.pop("type"),
                   lambda f: f.setdefault("b", 2), lambda f: f.__delitem__("seq")):
        other = Frame({"type": "event", "seq": 1}, "x")
        change(other)
        assert other.text is None


def test_listeners_of_other_topics_hear_nothing() -> None:
    hub = Hub()
    here, there = Catcher(), Catcher()
    hub.subscribe(here, "company:1")
    hub.subscribe(there, "company:2")
    hub.dispatch(encode("company:1", {"type": "conversation"}))
    assert len(here.got) == 1 and there.got == []


@needs_redis
def test_a_burst_of_publishes_over_redis_arrives_whole_and_in_order() -> None:
    """Thousands of publishes at once (a busy process) go out as pipelines over one
    connection: none is refused for want of connections, and each thread's order holds."""
    topic = f"test:{uuid.uuid4().hex}"
    loop_count, thread_count = 3000, 300

    async def scenario() -> list[dict[str, Any]]:
        hub = Hub()
        hub._bus = RedisBus(hub, REDIS)
        got: list[dict[str, Any]] = []
        done = asyncio.Event()

        class Listener:
            def deliver(self, topic: str, payload: dict[str, Any]) -> None:
                got.append(payload)
                if len(got) == loop_count + thread_count:
                    done.set()

        await hub.start()
        try:
            hub.subscribe(Listener(), topic)
            for n in range(loop_count):
                hub.publish(topic, {"from": "loop", "n": n})

            def from_a_thread() -> None:
                for n in range(thread_count):
                    hub.publish(topic, {"from": "thread", "n": n})

            await asyncio.to_thread(from_a_thread)
            await asyncio.wait_for(done.wait(), timeout=30)
        finally:
            await hub.stop()
        return got

    # Its own thread and loop: the browser tests' Playwright keeps a loop running in this one.
    with ThreadPoolExecutor(1) as thread:
        got = thread.submit(lambda: asyncio.run(scenario())).result()
    for source, count in (("loop", loop_count), ("thread", thread_count)):
        assert [p["n"] for p in got if p["from"] == source] == list(range(count))
