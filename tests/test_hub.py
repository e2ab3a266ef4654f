"""The hub hands each bus message to its listeners with the payload's JSON text, encoded once
per publish; a socket sends that text unless the frame was changed."""

from __future__ import annotations

import json
from typing import Any

from plug2support.realtime.hub import Frame, Hub, encode


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
