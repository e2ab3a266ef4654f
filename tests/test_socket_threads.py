"""Socket threads (`web --socket-threads N`, ops/socket_threads.py): one process holds more
sockets than one file table allows, and a relayed connection behaves as a plain one."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop
from django.core.management import call_command
from django.core.management.base import CommandError
from websockets.exceptions import ConnectionClosed

from plug2support.ops.socket_threads import SocketThread
from plug2support.widgets.models import Visitor, hash_token

from .conftest import free_port, make_tenant, open_operator, open_visitor
from .test_multiprocess import database_url, wait_healthy

# --- the relay, in this process ---------------------------------------------------------------


class Shouting(asyncio.Protocol):
    """Answers each read in capitals on the main loop; `bye` closes from the server side."""

    def __init__(self, events: list[Any], lost: threading.Semaphore) -> None:
        self.events = events
        self.lost = lost
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.events.append(("made", threading.current_thread().name,
                            transport.get_extra_info("peername"),
                            transport.get_extra_info("socket")))

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if data == b"bye":
            self.transport.close()
            return
        self.transport.write(data.upper())

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append(("lost", threading.current_thread().name))
        self.lost.release()


class Relayed:
    """A main loop in a thread of its own ("main"), and one socket thread relaying the
    connections of a listener on a free port to protocols made by `factory` on that loop."""

    def __init__(self, factory: Any, capacity: int = 0) -> None:
        self.loop = uvloop.new_event_loop()
        self.runner = threading.Thread(target=self.loop.run_forever, name="main", daemon=True)
        self.runner.start()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]

        async def start() -> SocketThread:
            thread = SocketThread(0, self.loop, factory, self.listener, backlog=16)
            thread.capacity = capacity  # 0: from the open-file limit
            thread.start()
            await thread.ready
            return thread

        self.thread = asyncio.run_coroutine_threadsafe(start(), self.loop).result(timeout=10)

    def on_loop(self, fn: Any) -> Any:
        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=10)

    def stop(self) -> None:
        async def stop() -> None:
            await self.thread.stop_listening()
            await self.thread.stop()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=20)
        self.listener.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.runner.join(timeout=10)
        self.loop.close()


@pytest.fixture
def relayed() -> Iterator[tuple[int, list[Any], threading.Semaphore]]:
    events: list[Any] = []
    lost = threading.Semaphore(0)
    server = Relayed(lambda: Shouting(events, lost))
    try:
        yield server.port, events, lost
    finally:
        server.stop()


def test_a_relayed_connection_reads_writes_and_closes_on_the_main_loop(
        relayed: tuple[int, list[Any], threading.Semaphore]) -> None:
    port, events, lost = relayed
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"hello")
        assert client.recv(100) == b"HELLO"
        client.sendall(b"bye")
        assert client.recv(100) == b""  # the main loop's close reached the real socket
        made = events[0]
        # The protocol ran on the main loop, saw the peer's address, and no socket object
        # (its descriptor would mean another file in the main thread's table).
        assert made == ("made", "main", client.getsockname(), None)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"again")
        assert client.recv(100) == b"AGAIN"
    # The client's close reaches the protocol on the main loop (posted: wait for it).
    assert lost.acquire(timeout=10) and lost.acquire(timeout=10)
    assert events.count(("lost", "main")) == 2


def test_a_file_the_main_thread_closes_is_closed_though_a_socket_thread_started_meanwhile(
        ) -> None:
    """A socket thread copies the process's file table when it starts; it must let go of
    the copies, or a connection the main thread closes later (a database's, a visitor's)
    would stay open in the kernel."""
    ours, peer = socket.socketpair()
    server = Relayed(asyncio.Protocol)
    try:
        ours.close()
        peer.settimeout(10)
        assert peer.recv(1) == b""  # end of file: no table holds the other end any more
    finally:
        server.stop()
        peer.close()


def test_a_full_socket_thread_stops_accepting_and_listens_again_once_a_socket_closes(
        ) -> None:
    events: list[Any] = []
    lost = threading.Semaphore(0)
    server = Relayed(lambda: Shouting(events, lost), capacity=3)
    clients = []
    try:
        for _ in range(3):
            client = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            client.sendall(b"in")
            assert client.recv(10) == b"IN"
            clients.append(client)
        # The fourth waits in the backlog (the kernel completed its handshake)...
        waiting = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        waiting.sendall(b"me too")
        assert server.on_loop(lambda: server.thread._server) is None  # not listening
        # ...until a socket closes and the thread listens again.
        clients.pop().close()
        assert waiting.recv(10) == b"ME TOO"
        clients.append(waiting)
    finally:
        for client in clients:
            client.close()
        server.stop()


class Slow(asyncio.Protocol):
    """Reads nothing until told to, then counts what arrives."""

    def __init__(self, holder: dict[str, Any]) -> None:
        self.holder = holder
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.pause_reading()  # type: ignore[attr-defined]
        self.holder["transport"], self.holder["protocol"] = transport, self

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        if self.received == self.holder["expected"]:
            self.holder["done"].set()


def test_a_protocol_that_stops_reading_holds_the_sender_back() -> None:
    """The socket thread stops reading when the main loop's protocol does (or falls behind):
    what a fast sender sends waits in TCP's buffers, not in the server's memory."""
    holder: dict[str, Any] = {"expected": 0, "done": threading.Event()}
    server = Relayed(lambda: Slow(holder))
    try:
        client = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        chunk, sent = b"x" * 65536, 0
        client.settimeout(2)
        with pytest.raises(TimeoutError):  # the kernel's buffers fill: send blocks
            while sent < 64 * 1024 * 1024:
                sent += client.send(chunk)
        assert sent < 16 * 1024 * 1024  # socket buffers and the read-ahead, no more
        wire = server.on_loop(lambda: holder["transport"]._wire)
        assert wire.read <= 1024 * 1024
        holder["expected"] = sent
        server.on_loop(lambda: holder["transport"].resume_reading())
        assert holder["done"].wait(timeout=20)  # everything sent arrives, once reading
        client.close()
    finally:
        server.stop()


# --- the product's server, in another process -----------------------------------------------

FILE_LIMIT = 256  # the server's open-file limit: each file table holds fewer sockets than this


def limited_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


@pytest.fixture
def threaded_server(transactional_db: Any) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url(),
           "PUBLIC_URL": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "web", "--host", "127.0.0.1", "--port", str(port),
         "--socket-threads", "2", "--backlog", "16"],
        env=env, cwd=Path(__file__).resolve().parent.parent, preexec_fn=limited_files)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_one_process_holds_more_widget_sockets_than_its_file_limit_and_they_all_talk(
        threaded_server: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, proc = threaded_server
    acme = make_tenant("Acme")
    make_tenant("Globex")
    count = FILE_LIMIT + 44
    # Returning visitors (known tokens): the new-visitor rate limit is not what is tested.
    Visitor.objects.bulk_create([Visitor(widget=acme.widget, token_hash=hash_token(f"t-{i}"))
                                 for i in range(count)])
    operator = open_operator(url, acme.operators[0])
    visitors = [open_visitor(url, acme.widget, token=f"t-{i}")[0]
                for i in range(count)]
    try:
        # Every one of them is open and answered, the first as the last.
        for visitor in (visitors[0], visitors[-1]):
            ack = visitor.request({"type": "message", "client_id": "c1", "body": "Still here?"})
            assert ack["type"] == "ack"
            arrived = operator.recv_until(
                lambda f, c=ack["conversation"]: f["type"] == "conversation"
                and f["conversation"]["id"] == c)
            operator.request({"type": "subscribe", "conversation": arrived["conversation"]["id"],
                              "after": 0})
            reply = operator.request({"type": "message", "conversation": ack["conversation"],
                                      "client_id": f"o{ack['conversation']}", "body": "Yes"})
            assert reply["type"] == "ack"
            heard = visitor.recv_until(
                lambda f: f["type"] == "event" and f["sender"] == "operator")
            assert heard["body"] == "Yes"
        with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
            assert response.status == 200
        # A shutdown with sockets open tells each to come back (1012) and ends in time;
        # uvicorn ends a graceful shutdown by raising the signal it caught again.
        proc.terminate()
        with pytest.raises(ConnectionClosed) as closed:
            visitors[-1].recv_until(lambda f: False, timeout=15)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        for visitor in visitors:
            visitor.close()
        operator.close()


@pytest.mark.parametrize(("options", "error"), [
    ({"socket_threads": -1}, "--socket-threads is a count of threads"),
    ({"socket_threads": 2, "workers": 2}, "--socket-threads serves one process"),
])
def test_web_refuses_socket_threads_it_cannot_serve(options: dict[str, int], error: str,
                                                    settings: Any) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"  # several workers are otherwise refused first
    with pytest.raises(CommandError, match=error):
        call_command("web", port=free_port(), **options)
