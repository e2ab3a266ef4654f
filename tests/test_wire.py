"""The contract of the product's own WebSocket protocol (plug2support/realtime/wire.py).

wire.py stands in for uvicorn's WebSocket protocols for one reason: an idle widget socket
costs about 5 KiB with it against 21 without (bench/README.md, "Idle widgets"). It is kept
on the condition that this file holds it to what any WebSocket server owes its clients and
to what the product's sockets rely on, byte by byte over a raw TCP socket to a real uvicorn
server with the product's options (ops/server.py):

- the handshake: a path without a socket is 404, an unsupported version and another site's
  origin are refused before the socket opens;
- RFC 6455 framing: fragments joined into one message, frames split across reads or several
  in one read, binary frames read as text, a client's ping answered with its payload, a
  close answered with its code; 1002 for an unmasked frame, a continuation with no start or
  a 64-bit length with its top bit set, 1007 for text that is not UTF-8, 1009 past the size
  limit (one message or its fragments), an invalid close code or reason refused;
- the product's sockets: a server error closes that socket alone (1011), a widget that says
  no hello is closed (4408) by a timer, a long history reaches a reading client whole, one
  that cannot be read closes the socket to be resumed, following again sends all of it;
- a peer that stops reading: dropped past the write limit, the others served, and a server
  that stops does not wait for it for ever;
- keepalive and shutdown: no answer to pings closes with 1011, a server that stops tells its
  sockets to come back (1012); behind a trusted proxy the forwarded address counts;
- the ASGI path (`endpoints.websocket_app`), for other servers, serves the same socket.

A change to wire.py comes with the test here that shows what it changes. Should uvicorn or
`websockets` one day hold an idle socket as cheaply, wire.py goes and these tests stay,
run against that server.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from plug2support.conversations.actions.messages import do_post_operator_message
from plug2support.conversations.models import Conversation, Event
from plug2support.realtime import wire
from plug2support.realtime.hub import hub
from plug2support.realtime.topics import visitor_topic

from .conftest import (
    LIVE_SERVERS,
    WS,
    ServerThread,
    Tenant,
    free_port,
    move_hub_to,
    open_operator,
    open_visitor,
    ws_connect,
)


class Raw:
    """A WebSocket client written out by hand, to send what a library would refuse to."""

    def __init__(self, base: str, path: str = "/ws/widget", origin: str | None = None,
                 version: str = "13", extra: str = "") -> None:
        parts = urlsplit(base)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: {version}\r\nOrigin: {origin or base}\r\n{extra}\r\n"
        ).encode())
        self.buffer = b""
        head = self._read_until(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def send(self, payload: bytes | str | dict[str, Any], opcode: int = 0x1, fin: bool = True,
             mask: bool = True) -> None:
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        if isinstance(payload, str):
            payload = payload.encode()
        length = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        flag = 0x80 if mask else 0
        if length < 126:
            head += bytes([flag | length])
        elif length < 65536:
            head += bytes([flag | 126]) + struct.pack("!H", length)
        else:
            head += bytes([flag | 127]) + struct.pack("!Q", length)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            head += key
        self.sock.sendall(head + payload)

    def frame(self) -> tuple[int, bytes]:
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8))[0]
        return first & 0x0F, self._read(length)

    def json(self) -> dict[str, Any]:
        """The next text frame (answering the server's pings meanwhile)."""
        while True:
            opcode, payload = self.frame()
            if opcode == 0x9:
                self.send(payload, opcode=0xA)
            elif opcode == 0x1:
                return json.loads(payload)  # type: ignore[no-any-return]
            else:
                raise AssertionError(f"frame {opcode:#x}: {payload!r}")

    def close_code(self) -> int:
        """Read until the server's close frame (ignoring anything before it): its code."""
        while True:
            opcode, payload = self.frame()
            if opcode == 0x8:
                return int(struct.unpack("!H", payload[:2])[0])

    def hello(self, tenant: Tenant) -> dict[str, Any]:
        self.send({"type": "hello", "widget": tenant.widget.key, "token": None})
        welcome = self.json()
        assert welcome["type"] == "welcome", welcome
        return welcome

    def close(self) -> None:
        self.sock.close()


def assert_served(client: Raw, ref: str) -> None:
    """The socket still answers: a ping frame gets its pong."""
    client.send({"type": "ping", "ref": ref})
    assert client.json() == {"type": "pong", "ref": ref}


@contextmanager
def own_server(**overrides: Any) -> Iterator[tuple[str, ServerThread]]:
    """A server of the test's own, with one option changed (its pings, proxy headers…),
    holding the process's hub while it runs (conftest.move_hub_to)."""
    port = free_port()
    thread = ServerThread(port, **overrides)
    thread.start()
    thread.wait_started()
    move_hub_to(thread)
    try:
        yield f"http://127.0.0.1:{port}", thread
    finally:
        move_hub_to(LIVE_SERVERS[0])
        thread.stop()


# --- the handshake ---------------------------------------------------------------------------

def test_a_path_without_a_socket_is_not_found(live: str, tenants: Any) -> None:
    assert Raw(live, "/ws/nothing-here").status == 404


def test_a_handshake_with_an_unsupported_version_is_refused(live: str, tenants: Any) -> None:
    """RFC 6455 4.2.1: only version 13; anything else is a bad request, never a socket."""
    refused = Raw(live, version="8")
    assert refused.status == 400
    assert b"Sec-WebSocket-Version" in refused.sock.recv(4096) + refused.buffer


def test_a_socket_from_another_site_is_refused_before_it_opens(live: str,
                                                                tenants: Any) -> None:
    assert Raw(live, origin="https://evil.example").status == 403


# --- frames ----------------------------------------------------------------------------------

def test_a_hello_sent_in_three_fragments_is_read_as_one_message(live: str,
                                                                 tenants: Any) -> None:
    acme, _ = tenants
    client = Raw(live)
    assert client.status == 101
    hello = json.dumps({"type": "hello", "widget": acme.widget.key, "token": None}).encode()
    client.send(hello[:10], opcode=0x1, fin=False)
    client.send(hello[10:20], opcode=0x0, fin=False)
    client.send(hello[20:], opcode=0x0, fin=True)
    welcome = client.json()
    assert welcome["type"] == "welcome" and welcome["visitor"]["id"]


def test_frames_split_across_reads_and_joined_in_one_read_are_all_handled(
        live: str, tenants: Any) -> None:
    """Two frames in one TCP write, then one frame a byte at a time: every frame answered."""
    acme, _ = tenants
    client = Raw(live)
    client.hello(acme)
    pings = [json.dumps({"type": "ping", "ref": ref}).encode() for ref in (1, 2, 3)]
    framed = []
    for payload in pings:
        key = os.urandom(4)
        framed.append(bytes([0x81, 0x80 | len(payload)]) + key
                      + bytes(b ^ key[i % 4] for i, b in enumerate(payload)))
    client.sock.sendall(framed[0] + framed[1])
    for byte in framed[2]:
        client.sock.sendall(bytes([byte]))
    assert [client.json()["ref"] for _ in range(3)] == [1, 2, 3]


def test_a_ping_from_the_client_is_answered_with_its_payload(live: str, tenants: Any) -> None:
    acme, _ = tenants
    client = Raw(live)
    client.hello(acme)
    client.send(b"are you there", opcode=0x9)
    assert client.frame() == (0xA, b"are you there")


def test_an_unmasked_frame_closes_with_a_protocol_error(live: str, tenants: Any) -> None:
    """RFC 6455 5.1: a server closes a connection whose client frames are not masked."""
    acme, _ = tenants
    client = Raw(live)
    client.hello(acme)
    client.send({"type": "ping"}, mask=False)
    assert client.close_code() == 1002


def test_text_that_is_not_utf8_closes_with_1007(live: str, tenants: Any) -> None:
    acme, _ = tenants
    client = Raw(live)
    client.hello(acme)
    client.send(b'{"type": "ping", "x": "\xff\xfe"}')
    assert client.close_code() == 1007


def test_a_message_over_the_size_limit_closes_with_1009(live: str, tenants: Any) -> None:
    """Refused from the frame's header: the server does not wait for a 2 MiB body."""
    acme, _ = tenants
    client = Raw(live)
    client.hello(acme)
    client.sock.sendall(bytes([0x81, 0x80 | 127]) + struct.pack("!Q", 2 * 1024 * 1024)
                        + os.urandom(4))
    assert client.close_code() == 1009


def test_fragments_over_the_size_limit_close_with_1009(live: str, tenants: Any) -> None:
    acme, _ = tenants
    client = Raw(live)
    client.hello(acme)
    chunk = b"x" * 600_000
    client.send(chunk, opcode=0x1, fin=False)
    client.send(chunk, opcode=0x0, fin=False)
    assert client.close_code() == 1009


def test_a_continuation_without_a_first_fragment_closes_with_1002(live: str,
                                                                   tenants: Any) -> None:
    acme, _ = tenants
    client = Raw(live)
    client.hello(acme)
    client.send(b"orphan", opcode=0x0)
    assert client.close_code() == 1002


def test_the_client_closing_gets_the_close_answered(live: str, tenants: Any) -> None:
    acme, _ = tenants
    client = Raw(live)
    client.hello(acme)
    client.send(struct.pack("!H", 1000) + b"bye", opcode=0x8)
    assert client.close_code() == 1000


def test_binary_frames_carry_json_as_text_frames_do(live: str, tenants: Any) -> None:
    acme, _ = tenants
    client = Raw(live)
    client.hello(acme)
    client.send(json.dumps({"type": "ping", "ref": "b"}).encode(), opcode=0x2)
    assert client.json() == {"type": "pong", "ref": "b"}


def test_a_server_error_while_answering_closes_that_socket_with_1011_only(
        live: str, tenants: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected failure (here, injected into the identify handler) ends that socket with
    1011 — the client reconnects and resumes — and every other socket goes on."""
    from plug2support.realtime.endpoints import widget

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected")

    monkeypatch.setattr(widget, "do_identify", broken)
    acme, globex = tenants
    failing = Raw(live)
    failing.hello(acme)
    other = Raw(live)
    other.hello(globex)
    failing.send({"type": "identify", "user_id": "u1", "user_hash": "x"})
    assert failing.close_code() == 1011
    assert_served(other, "fine")


def test_a_widget_socket_without_a_hello_is_closed_and_one_that_said_hello_is_not(
        live: str, tenants: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hello is awaited by a timer, not a task: a socket that never says it is closed
    with 4408 when the timer fires; one opened at the same moment that said hello stays."""
    from plug2support.realtime.endpoints import widget

    monkeypatch.setattr(widget, "HELLO_TIMEOUT_SECONDS", 1.0)
    acme, _ = tenants
    greeted = Raw(live)
    silent = Raw(live)
    greeted.hello(acme)
    assert silent.close_code() == 4408
    assert_served(greeted, "after the timeout")


@pytest.mark.parametrize(("payload", "answer"), [
    (struct.pack("!H", 1005), 1002),  # reserved: never sent in a frame
    (struct.pack("!H", 2000), 1002),  # unassigned
    (b"\x03", 1002),  # one byte: no code can be read
    (struct.pack("!H", 1000) + b"\xff\xfe", 1007),  # a reason that is not UTF-8
    (struct.pack("!H", 4000) + b"bye", 4000),  # an application's own code is echoed
])
def test_a_close_frame_is_answered_by_its_code_or_the_reason_it_is_invalid(
        live: str, tenants: Any, payload: bytes, answer: int) -> None:
    acme, _ = tenants
    client = Raw(live)
    client.hello(acme)
    client.send(payload, opcode=0x8)
    assert client.close_code() == answer


def test_a_64_bit_length_with_its_top_bit_set_is_a_protocol_error(live: str,
                                                                  tenants: Any) -> None:
    acme, _ = tenants
    client = Raw(live)
    client.hello(acme)
    client.sock.sendall(bytes([0x81, 0x80 | 127]) + struct.pack("!Q", 1 << 63) + os.urandom(4))
    assert client.close_code() == 1002


# --- long histories and following again -----------------------------------------------------

def test_a_long_history_reaches_a_reading_client_whole_however_large(
        live: str, tenants: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reconnecting visitor is sent its whole conversation as fast as it reads: the guard
    against peers that stop reading must not cut off one that reads (1.8 MB of history
    here, against a 512 KiB guard)."""
    monkeypatch.setattr(wire, "WRITE_BUFFER_LIMIT", 512 * 1024)
    acme, _ = tenants
    visitor, welcome = open_visitor(live, acme.widget)
    first = visitor.request({"type": "message", "client_id": "v0", "body": "hi"})
    visitor.close()
    conversation = Conversation.objects.get(pk=first["conversation"])
    membership = acme.membership(acme.operators[0])
    body = "\u4e2d" * 5000  # six bytes each once escaped in JSON
    for i in range(60):
        do_post_operator_message(membership, conversation, client_id=f"o{i}",
                                 body=body, attachments=None)
    visible = list(Event.objects.filter(conversation=conversation, staff_only=False)
                   .order_by("seq").values_list("seq", flat=True))
    assert len(visible) > 60
    with own_server(ws_ping_interval=None) as (url, thread):
        # Small kernel buffers on the server's side: the history waits in the server.
        for server in thread.server.servers:
            for listening in server.sockets:
                listening.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        client = Raw(url)
        client.send({"type": "hello", "widget": acme.widget.key, "token": welcome["token"],
                     "conversation": conversation.pk, "after": 0})
        seqs: list[int] = []
        while len(seqs) < len(visible):
            frame = client.json()
            if frame["type"] == "event":
                seqs.append(frame["seq"])
        assert seqs == visible
        client.close()


def test_a_history_that_cannot_be_read_closes_the_socket_to_be_resumed(
        live: str, tenants: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replay that fails (the database) must not leave the socket open without its
    history: it is closed with 1011, and the client resumes from its sequence numbers."""
    from plug2support.realtime import sockets

    acme, _ = tenants
    visitor, welcome = open_visitor(live, acme.widget)
    first = visitor.request({"type": "message", "client_id": "v0", "body": "hi"})
    visitor.close()

    def unreadable(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected")

    monkeypatch.setattr(sockets, "events_after", unreadable)
    client = Raw(live)
    client.send({"type": "hello", "widget": acme.widget.key, "token": welcome["token"],
                 "conversation": first["conversation"], "after": 0})
    assert client.close_code() == 1011


def test_following_a_conversation_again_while_its_history_is_read_sends_all_of_it(
        live: str, tenants: Any, monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    """An operator subscribes from seq 3, then again from 0 while the first read is still at
    the database (several database threads, as on PostgreSQL): the first, stale read must
    not count for the second — every event comes, once, in order."""
    from plug2support.realtime import dbthreads, sockets

    # Several database threads, as on PostgreSQL (SQLite's default is one).
    own_threads = settings.SOCKET_DB_THREADS <= 1
    if own_threads:
        settings.SOCKET_DB_THREADS = 4
    acme, _ = tenants
    visitor, _ = open_visitor(live, acme.widget)
    for i in range(5):
        conversation_id = visitor.request(
            {"type": "message", "client_id": f"v{i}", "body": f"m{i}"})["conversation"]
    operator = open_operator(live, acme.operators[0])
    real = sockets.events_after
    release = threading.Event()
    calls: list[int] = []

    def held_first(conversation: int, after: int, limit: int, visitor: bool = False) -> Any:
        calls.append(after)
        if len(calls) == 1:
            assert release.wait(timeout=10)  # until the second subscribe is answered
        return real(conversation, after, limit, visitor=visitor)

    monkeypatch.setattr(sockets, "events_after", held_first)
    try:
        operator.send({"type": "subscribe", "conversation": conversation_id, "after": 3})
        operator.request({"type": "subscribe", "conversation": conversation_id, "after": 0})
        release.set()
        last = Conversation.objects.get(pk=conversation_id).last_seq
        seqs: list[int] = []
        while len(seqs) < last:
            frame = operator.recv_until(
                lambda f: f["type"] == "event" and f["conversation"] == conversation_id)
            seqs.append(frame["seq"])
        assert seqs == list(range(1, last + 1))
    finally:
        release.set()
        if own_threads:
            dbthreads.close_db_threads()  # their connections closed, the threads ended


# --- a peer that stops reading -------------------------------------------------------------

def test_a_visitor_that_stops_reading_is_disconnected_and_the_other_company_is_not(
        live: str, tenants: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames for a peer that reads nothing pile up in the server's memory: past the limit
    the socket is dropped (the widget resumes from its sequence numbers when it comes back);
    a visitor of another company, reading, keeps its socket."""
    monkeypatch.setattr(wire, "WRITE_BUFFER_LIMIT", 256 * 1024)
    acme, globex = tenants
    stuck = Raw(live)
    stuck_topic = visitor_topic(stuck.hello(acme)["visitor"]["id"])
    stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader, _ = open_reader(live, globex)
    big = "x" * 60_000
    deadline = time.monotonic() + 30
    while hub.listener_count(stuck_topic) and time.monotonic() < deadline:
        # Published from this thread as actions do; each notice is 60 kB the peer never reads.
        for _ in range(20):
            hub.publish(stuck_topic, {"type": "notice", "text": big})
        reader.send({"type": "ping", "ref": "still here"})
        assert reader.recv()["ref"] == "still here"
    assert hub.listener_count(stuck_topic) == 0
    stuck.close()


def test_a_server_that_stops_does_not_wait_for_ever_on_a_client_that_reads_nothing(
        live: str, tenants: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its close frame queued behind frames the peer never reads, the connection is dropped
    after the close timeout, and the server's shutdown completes."""
    monkeypatch.setattr(wire, "CLOSE_TIMEOUT_SECONDS", 0.5)
    acme, _ = tenants
    with own_server(ws_ping_interval=None) as (url, thread):
        stuck = Raw(url)
        stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        topic = visitor_topic(stuck.hello(acme)["visitor"]["id"])
        (connection,) = [c for c in thread.server.server_state.connections
                         if isinstance(c, wire.WebSocketProtocol)]
        connection.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        reader = open_reader_at(url, tenants[1])
        deadline = time.monotonic() + 10
        while connection.transport.get_write_buffer_size() < 100_000:  # bytes stuck for it
            assert time.monotonic() < deadline
            hub.publish(topic, {"type": "notice", "text": "x" * 20_000})
            assert_served(reader, "meanwhile")  # paces the publishes; the server serves on
        thread.server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive()
        assert hub.listener_count(topic) == 0
        stuck.close()


def open_reader_at(url: str, tenant: Tenant) -> Raw:
    client = Raw(url)
    client.hello(tenant)
    return client


def open_reader(live: str, tenant: Tenant) -> tuple[WS, dict[str, Any]]:
    ws = WS(ws_connect(live, "/ws/widget"))
    ws.send({"type": "hello", "widget": tenant.widget.key, "token": None})
    welcome = ws.recv()
    assert welcome["type"] == "welcome"
    return ws, welcome


# --- keepalive and shutdown (a server of their own, with pings every 0.2 s) -----------------

@pytest.fixture
def pinging_server(live: str) -> Iterator[tuple[str, ServerThread]]:
    with own_server(ws_ping_interval=0.2, ws_ping_timeout=0.2) as server:
        yield server


def test_a_client_that_answers_no_ping_is_closed_and_one_that_answers_stays(
        pinging_server: tuple[str, ServerThread], tenants: Any) -> None:
    url, _ = pinging_server
    acme, globex = tenants
    silent = Raw(url)
    silent.hello(acme)
    answering = Raw(url)
    answering.hello(globex)
    # The silent one reads its frames but never answers a ping.
    assert silent.close_code() == 1011
    # The other answered every ping meanwhile (Raw.json does) and is still served.
    assert_served(answering, "alive")


def test_a_server_that_stops_tells_its_sockets_to_come_back(
        pinging_server: tuple[str, ServerThread], tenants: Any) -> None:
    url, thread = pinging_server
    acme, _ = tenants
    client = Raw(url)
    client.hello(acme)
    thread.server.should_exit = True
    assert client.close_code() == 1012


# --- behind a proxy (uvicorn's proxy_headers, as `manage.py web` sets) ---------------------

@pytest.fixture
def proxied_server(live: str) -> Iterator[str]:
    with own_server(proxy_headers=True, forwarded_allow_ips="127.0.0.1") as (url, _):
        yield url


def test_behind_a_trusted_proxy_the_new_visitor_limit_counts_the_forwarded_address(
        proxied_server: str, tenants: Any) -> None:
    """The limit on new visitors per address must count the visitors' addresses, not the
    proxy's: one address is refused past the limit while another still gets in."""
    from plug2support.conversations.actions.visitors import NEW_VISITORS_PER_IP_PER_MINUTE

    acme, _ = tenants
    for _ in range(NEW_VISITORS_PER_IP_PER_MINUTE):
        Raw(proxied_server, extra="X-Forwarded-For: 203.0.113.7\r\n").hello(acme)
    refused = Raw(proxied_server, extra="X-Forwarded-For: 203.0.113.7\r\n")
    refused.send({"type": "hello", "widget": acme.widget.key, "token": None})
    assert refused.json()["code"] == "rate_limited"
    assert refused.close_code() == 4429
    other = Raw(proxied_server, extra="X-Forwarded-For: 198.51.100.9\r\n")
    assert other.hello(acme)["visitor"]["id"]


# --- the ASGI path (another server than uvicorn with the product's options) ----------------

@pytest.fixture
def asgi_server(live: str) -> Iterator[str]:
    with own_server(ws="websockets-sansio") as (url, _):
        yield url


def test_the_asgi_path_serves_the_same_widget_socket(asgi_server: str, tenants: Any) -> None:
    acme, globex = tenants
    ws, welcome = open_reader(asgi_server, acme)
    ws.send({"type": "message", "client_id": "asgi-1", "body": "Hello over ASGI"})
    frames: list[dict[str, Any]] = []
    while not ({"ack", "event"} <= {f["type"] for f in frames if f.get("client_id")}):
        frames.append(ws.recv())
    ack = next(f for f in frames if f["type"] == "ack")
    event = next(f for f in frames if f["type"] == "event" and f.get("client_id"))
    assert ack["client_id"] == "asgi-1" and event["seq"] == ack["seq"]
    assert event["body"] == "Hello over ASGI"
    # A foreign widget key still gets the refusal and the close code.
    other = WS(ws_connect(asgi_server, "/ws/widget"))
    other.send({"type": "hello", "widget": "wk_unknown", "token": None})
    assert other.recv()["code"] == "widget_not_found"
    assert globex.company.conversations.count() == 0
