"""The hub hands each bus message to its listeners as one read-only Frame with the payload's
JSON text, encoded once per publish; a socket sends that text, and its WebSocket bytes are
made once for all the sockets that send it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from plug2support.realtime.hub import Frame, Hub, RedisBus, encode

from .conftest import REDIS, needs_redis


class Catcher:
    def __init__(self) -> None:
        self.got: list[tuple[str, Mapping[str, Any]]] = []

    def deliver(self, topic: str, payload: Mapping[str, Any]) -> None:
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


def test_a_frame_cannot_change_and_a_payload_made_from_it_is_encoded_again() -> None:
    """A Frame's text always says what it holds: it has no mutators and its fields are
    frozen. A socket that needs another payload makes a dict from it, which is no Frame, so
    the socket encodes it anew (sockets.Socket.send_json) rather than send the old text."""
    frame = Frame({"type": "event", "seq": 1}, '{"type":"event","seq":1}')
    for change in (lambda f: f.__setitem__("ref", "r1"), lambda f: f.update(a=1),
                   lambda f: f.pop("type"), lambda f: f.setdefault("b", 2),
                   lambda f: f.__delitem__("seq"), lambda f: f.clear(),
                   lambda f: f.popitem(), lambda f: f.__ior__({"a": 1}),
                   lambda f: setattr(f, "text", "{}"), lambda f: setattr(f, "_payload", {})):
        with pytest.raises((AttributeError, TypeError)):
            change(frame)
    assert frame == {"type": "event", "seq": 1} and frame.text == '{"type":"event","seq":1}'
    changed = {**frame, "ref": "r1"}
    assert not isinstance(changed, Frame) and changed == {"type": "event", "seq": 1, "ref": "r1"}


def test_a_frames_wire_bytes_are_made_once_for_every_socket_that_sends_it() -> None:
    frame = Frame({"type": "event"}, '{"type":"event"}')
    made: list[bytes] = []

    def encode(text: bytes) -> bytes:
        made.append(text)
        return b"\x81" + bytes([len(text)]) + text

    first, second = frame.wire(encode), frame.wire(encode)
    assert first is second and made == [b'{"type":"event"}']


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

    async def scenario() -> list[Mapping[str, Any]]:
        hub = Hub()
        hub._bus = RedisBus(hub, REDIS)
        got: list[Mapping[str, Any]] = []
        done = asyncio.Event()

        class Listener:
            def deliver(self, topic: str, payload: Mapping[str, Any]) -> None:
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
