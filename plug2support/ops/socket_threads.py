"""Socket threads: one process holding more open sockets than one file table allows.

Linux limits the open files of a *file table* (`RLIMIT_NOFILE`), and a process's threads
share one table unless a thread asks for its own (`unshare(CLONE_FILES)`). Where the hard
limit cannot be raised — a container without CAP_SYS_RESOURCE, like the machines this
product is measured on (20 000) — a server that must hold more sockets than that in one
process can give its sockets to threads that each own a table: `web --socket-threads N`.

Only the sockets move. Each socket thread runs an event loop that accepts on the server's
one listening socket (whichever thread is free first takes a connection), reads and writes
bytes, and nothing else. Everything the product does with those bytes — uvicorn's HTTP
protocol, the WebSocket protocol (`realtime/wire.py`), Django, the hub, the database — runs
on the main loop as always: each accepted connection appears there as a `Relay`, an asyncio
transport whose calls are carried to the socket thread, and whose protocol gets the socket
thread's events (data, end of file, flow control, loss) in the order they happened.

A descriptor number means a different file in each table, so nothing holding one may cross:
- the threads talk only through two `Mailbox`es per socket thread, whose eventfds are made
  before the socket thread leaves the shared table; with the listening socket, they are the
  only descriptors both tables hold. asyncio's own cross-thread calls (`call_soon_threadsafe`,
  `wrap_future`) are not used between them: they wake a loop by writing to its descriptor
  by number. Signals are blocked in socket threads for the same reason (Python's handler
  writes to its wake-up descriptor);
- the socket thread, once it has its own table, replaces every descriptor it copied from the
  main one (below `RESERVED`) with /dev/null and closes the rest — so a connection the main
  thread closes later really closes, and the socket thread's own descriptors are numbered
  from `RESERVED` up, away from the ones the main thread keeps opening: a stray close in the
  wrong thread (a leaked object finalised by the garbage collector there) hits a
  placeholder, not a visitor's socket;
- the socket thread never logs: its loop's errors go to the main loop's handler.

With the default (0), uvicorn serves every socket on the main loop, as before; a relayed
socket costs a hop between threads per read and per write, and 0.3–0.7 KiB more
(bench/README.md has both).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import resource
import signal
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import uvicorn
import uvloop
from uvicorn.server import STARTUP_FAILURE

log = logging.getLogger(__name__)

CLONE_FILES = 0x400  # <linux/sched.h>
RESERVED = 1024
"""Descriptors below this number stay the main thread's in every socket thread's table (at
most an eighth of the limit: a low limit still leaves room for sockets)."""
MARGIN = 32
"""Descriptors a socket thread keeps free when it counts its room for connections (its
loop's own: a timer, a name lookup)."""


def unshare_file_table() -> None:
    """Give the calling thread its own copy of the process's file table."""
    if not sys.platform.startswith("linux"):
        raise RuntimeError("socket threads need Linux (unshare(CLONE_FILES))")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_FILES) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"unshare(CLONE_FILES): {os.strerror(error)}")


def reserved_below() -> int:
    return min(RESERVED, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 8)


def leave_main_files(keep: set[int]) -> None:
    """In a thread that has just unshared its table: let go of every copied descriptor but
    stdio and `keep`, and hold the reserved numbers with /dev/null (see the module's text).
    Only this thread's table changes; the main thread's files stay open there."""
    reserved = reserved_below()
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    for fd in range(3, reserved):
        if fd not in keep and fd != null:
            os.dup2(null, fd, inheritable=False)
    # Above the reserved range: close all but `keep` (close_range where the kernel has it).
    start = reserved
    for fd in sorted(f for f in keep | {null} if f >= reserved):
        os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    if null >= reserved:
        os.close(null)


READ_AHEAD = 256 * 1024
"""Bytes a socket thread reads for a connection before the main loop has taken them: past
this it stops reading, so a fast sender is held back by TCP, as on the main loop."""
HIGH_WATER = 64 * 1024  # asyncio's default write-buffer limits
LOW_WATER = HIGH_WATER // 4


class Mailbox:
    """Calls for one loop, posted from another thread: a queue and an eventfd that wakes the
    loop. One wake-up for any number of posts in between (`_armed`)."""

    __slots__ = ("fd", "_calls", "_armed")

    def __init__(self) -> None:
        self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._calls: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._armed = False

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        if self.fd < 0:  # closed: its number may be another file's now
            return
        self._calls.append((fn, args))
        if not self._armed:
            self._armed = True
            os.eventfd_write(self.fd, 1)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_reader(self.fd, self.drain)

    def drain(self) -> None:
        # Read the wake-up, then disarm, then run what is queued then: a post that finds the
        # box armed was queued before the disarm, or after a post that wrote a new wake-up.
        # What is posted meanwhile waits for that wake-up, so timers and the other
        # mailboxes get their turn however fast the other thread posts.
        if self.fd < 0:
            return
        try:
            os.eventfd_read(self.fd)
        except BlockingIOError:
            pass
        self._armed = False
        calls = self._calls
        try:
            for _ in range(len(calls)):
                fn, args = calls.popleft()
                try:
                    fn(*args)
                except Exception:  # one connection's failure must not stop the others'
                    asyncio.get_running_loop().call_exception_handler(
                        {"message": "socket thread call failed",
                         "exception": sys.exc_info()[1]})
        finally:
            if calls and self.fd >= 0:  # left by an escaping BaseException: wake again
                os.eventfd_write(self.fd, 1)

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


def _address(value: Any) -> Any:
    # IPv6 addresses come with flow and scope: uvicorn reads (host, port) pairs only.
    return value[:2] if isinstance(value, tuple) and len(value) > 2 else value


class Relay(asyncio.Transport):
    """The main loop's side of a connection held by a socket thread. Called on the main
    loop only; each call is carried to the socket thread, which owns the real transport.
    Flow control is decided here, from what is handed over and what the socket thread
    reports, so a protocol that writes in a loop is paused at once, as by a real transport."""

    __slots__ = ("_wire", "_thread", "_protocol", "_closing", "_lost", "_queued",
                 "_limits", "_reading", "_write_paused", "taken")

    def __init__(self, wire: Wire, thread: SocketThread) -> None:
        self._wire = wire
        self._thread = thread
        self._protocol: asyncio.BaseProtocol | None = None
        self._closing = False
        self._lost = False
        self._queued = 0  # bytes handed to the socket thread (it counts what it wrote)
        self._limits = (HIGH_WATER, LOW_WATER)
        self._reading = True
        self._write_paused = False
        self.taken = 0  # bytes the protocol was given (the socket thread reads ahead of it)

    def _post(self, fn: Callable[..., Any], *args: Any) -> None:
        if not self._lost:
            self._thread.inbox.post(fn, *args)

    # --- asyncio.Transport ---
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        # Never the socket object: its descriptor means nothing in this thread's table.
        if name == "peername":
            return self._wire.peername
        if name == "sockname":
            return self._wire.sockname
        return default

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._post(self._wire.close)

    def abort(self) -> None:
        self._closing = True
        self._post(self._wire.abort)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[return-value]

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or not data:
            return
        data = bytes(data)
        self._queued += len(data)
        self._post(self._wire.write, data)
        if not self._write_paused and self.get_write_buffer_size() > self._limits[0]:
            self._write_paused = True
            # The socket thread reports progress only while paused: ask it once, after the
            # writes already posted (it may have done them before it could see the pause).
            self._post(self._wire.report_written)
            if self._protocol is not None:
                self._protocol.pause_writing()

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def write_eof(self) -> None:
        self._post(self._wire.write_eof)

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        # Handed over but not yet written, plus what the real transport still holds.
        return self._queued - self._wire.written + self._wire.buffered

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._limits

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        high = HIGH_WATER if high is None else high
        low = high // 4 if low is None else low
        self._limits = (high, low)

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def pause_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._post(self._wire.set_reading, False)

    def resume_reading(self) -> None:
        if not self._reading:
            self._reading = True
            self._post(self._wire.set_reading, True)

    # --- what the socket thread reports (run on the main loop, in order) ---
    def _opened(self) -> None:
        try:
            protocol = self._thread.create_protocol()
            self._protocol = protocol
            protocol.connection_made(self)
        except Exception:
            self.abort()  # a connection nothing serves is not left open
            raise

    def _data(self, data: bytes) -> None:
        self.taken += len(data)
        if self._wire.held_back:  # the socket thread stopped reading ahead: room again
            self._post(self._wire.caught_up)
        if not self._closing and self._protocol is not None:
            try:
                self._protocol.data_received(data)  # type: ignore[attr-defined]
            except Exception:
                self.abort()  # as an asyncio transport does when its protocol fails
                raise

    def _eof(self) -> None:
        if not self._closing and self._protocol is not None:
            self._protocol.eof_received()  # type: ignore[attr-defined]

    def _written(self) -> None:
        """The socket thread wrote, or its transport drained: resume a paused protocol."""
        if (self._write_paused and not self._lost
                and self.get_write_buffer_size() <= self._limits[1]):
            self._write_paused = False
            if self._protocol is not None:
                self._protocol.resume_writing()

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = self._closing = True
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.connection_lost(exc)


class Wire(asyncio.Protocol):
    """The socket thread's side of one connection: the real transport, and its events
    posted to the main loop."""

    __slots__ = ("thread", "transport", "relay", "peername", "sockname", "written",
                 "buffered", "read", "held_back", "_wanted", "_full")

    def __init__(self, thread: SocketThread) -> None:
        self.thread = thread
        self.transport: asyncio.Transport | None = None
        self.relay = Relay(self, thread)
        self.peername: Any = None
        self.sockname: Any = None
        self.written = 0  # bytes of the relay's writes done (handed to the real transport)
        self.buffered = 0  # what the real transport holds, while it is over its limit
        self.read = 0  # bytes read and posted to the main loop
        self.held_back = False  # reading stopped: the main loop is READ_AHEAD behind
        self._wanted = True  # the main loop's protocol wants to read
        self._full = False  # the real transport is over its write limit

    # --- asyncio.Protocol (on the socket thread) ---
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peername = _address(transport.get_extra_info("peername"))
        self.sockname = _address(transport.get_extra_info("sockname"))
        self.thread.wires.add(self)
        self.thread.outbox.post(self.relay._opened)

    def data_received(self, data: bytes) -> None:
        self.read += len(data)
        if self.read - self.relay.taken > READ_AHEAD and not self.held_back:
            self.held_back = True
            self._apply_reading()
        self.thread.outbox.post(self.relay._data, data)

    def eof_received(self) -> bool | None:
        self.thread.outbox.post(self.relay._eof)
        return None  # a half-closed connection is closed (as the product's protocols ask)

    def pause_writing(self) -> None:
        self._full = True
        if self.transport is not None:
            self.buffered = self.transport.get_write_buffer_size()

    def resume_writing(self) -> None:
        self._full = False
        self.buffered = 0
        self.thread.outbox.post(self.relay._written)

    def connection_lost(self, exc: Exception | None) -> None:
        self.thread.wires.discard(self)
        self.thread._lost()
        self.transport = None
        self.thread.outbox.post(self.relay._connection_lost, exc)

    def _apply_reading(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self._wanted and not self.held_back:
            transport.resume_reading()
        else:
            transport.pause_reading()

    # --- what the relay asks (posted from the main loop) ---
    def write(self, data: bytes) -> None:
        transport = self.transport
        self.written += len(data)
        if transport is not None and not transport.is_closing():
            transport.write(data)
            if self._full:
                self.buffered = transport.get_write_buffer_size()
        if not self._full and self.relay._write_paused:
            self.thread.outbox.post(self.relay._written)  # handed over: room again

    def report_written(self) -> None:
        if not self._full:
            self.thread.outbox.post(self.relay._written)

    def write_eof(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write_eof()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def set_reading(self, wanted: bool) -> None:
        self._wanted = wanted
        self._apply_reading()

    def caught_up(self) -> None:
        if self.held_back and self.read - self.relay.taken <= READ_AHEAD // 2:
            self.held_back = False
            self._apply_reading()


class SocketThread(threading.Thread):
    """An event loop in its own file table that accepts connections and relays them."""

    def __init__(self, index: int, main_loop: asyncio.AbstractEventLoop,
                 create_protocol: Callable[[], asyncio.Protocol], listener: socket.socket,
                 backlog: int) -> None:
        super().__init__(name=f"sockets-{index}", daemon=True)
        self.main_loop = main_loop
        self.create_protocol = create_protocol
        self.listener_fd = listener.fileno()  # every thread accepts on the one socket
        self.backlog = backlog
        # Both made here, in the shared table: the only descriptors the two tables share.
        self.inbox = Mailbox()  # main loop -> this thread
        self.outbox = Mailbox()  # this thread -> main loop
        self.outbox.attach(main_loop)
        self.wires: set[Wire] = set()
        # Listening. Settled through the outbox: asyncio's own cross-thread
        # wake-up (call_soon_threadsafe, wrap_future) writes to the main loop's descriptor
        # by number, which means another file in this thread's table.
        self.ready: asyncio.Future[None] = main_loop.create_future()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self.open = 0  # connections accepted and not yet lost
        self.capacity = 0  # connections this table has room for (`_listen`)
        self._full = False
        self._stopping = False
        self._finished = threading.Event()

    def run(self) -> None:
        try:
            self._run()
        finally:
            self._finished.set()

    def _run(self) -> None:
        try:
            # Signals go to the main thread: Python's C handler writes to its wake-up
            # descriptor by number, which means another file in this thread's table.
            signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
            unshare_file_table()
            leave_main_files({self.inbox.fd, self.outbox.fd, self.listener_fd})
            # Made after the unshare: the loop's own descriptors exist in this table only,
            # so nothing in the main thread can reach them by number.
            loop = self.loop = uvloop.new_event_loop()
            asyncio.set_event_loop(loop)
            loop.set_exception_handler(self._report)
            self.inbox.attach(loop)
            loop.run_until_complete(self._listen())
        except BaseException as error:
            self.outbox.post(self.ready.set_exception, error)
            if self.loop is not None:
                self.loop.close()
            return
        try:
            loop.run_forever()
        finally:
            for wire in list(self.wires):
                wire.abort()
            loop.run_until_complete(asyncio.sleep(0))  # let the aborts finish
            loop.close()

    async def _listen(self) -> None:
        if self._stopping:  # a pause ended after the server began to stop
            return
        if not self.capacity:
            # Room for connections: the table's limit, less what it holds now, less a
            # backlog's worth (the accepts already under way when the table fills, below).
            used = len(os.listdir("/proc/thread-self/fd"))  # this thread's table
            limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            self.capacity = limit - used - MARGIN - self.backlog
            if self.capacity <= 0:
                raise OSError(f"{self.name}: an open-file limit of {limit} leaves no room for "
                              f"sockets beside {used} files and a backlog of {self.backlog}")
        # A duplicate of the listener's descriptor, owned (and closed) by the loop's server:
        # the original stays, for listening again after a pause (`_accept`).
        listener = socket.socket(fileno=os.dup(self.listener_fd))
        self._server = await asyncio.get_running_loop().create_server(
            self._accept, sock=listener, backlog=self.backlog)
        if not self.ready.done():
            self.outbox.post(self.ready.set_result, None)

    def _accept(self) -> Wire:
        """A connection was accepted (the loop's server asks for its protocol). A full table
        stops listening, so the other threads take the next connections: an accept that
        failed for want of descriptors would make the loop drop every pending one (libuv's
        EMFILE handling). The loop goes on accepting what is pending before the close can
        run (closing here would drop this connection): `capacity` leaves a backlog's worth
        for that, which a storm of connections arriving during that one pass could exceed."""
        self.open += 1
        if self.open >= self.capacity and not self._full:
            self._full = True
            asyncio.get_running_loop().call_soon(self._stop_accepting)
        return Wire(self)

    def _stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
            self.outbox.post(log.warning, "%s is full (%d sockets): not accepting until some "
                                          "close", self.name, self.open)

    def _lost(self) -> None:
        self.open -= 1
        if (self._full and self._server is None and not self._stopping
                and self.open < self.capacity - min(MARGIN, self.capacity // 10)):
            self._full = False
            asyncio.get_running_loop().create_task(self._listen())

    def _report(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.outbox.post(self.main_loop.call_exception_handler, context)

    # --- from the main loop ---
    def stop_listening(self) -> asyncio.Future[None]:
        done: asyncio.Future[None] = self.main_loop.create_future()
        if self._finished.is_set():  # it never listened, or ended
            done.set_result(None)
            return done

        def close() -> None:
            self._stopping = True
            if self._server is not None:
                self._server.close()
                self._server = None
            # This table's copy of the listening socket too: with every table's copy
            # closed, new connections are refused at once, as by uvicorn's own shutdown.
            with contextlib.suppress(OSError):
                os.close(self.listener_fd)
            self.outbox.post(done.set_result, None)

        self.inbox.post(close)
        return done

    async def stop(self) -> None:
        if self.loop is not None and not self._finished.is_set():
            self.inbox.post(self.loop.stop)
        await asyncio.get_running_loop().run_in_executor(None, self._finished.wait, 10)
        self.main_loop.remove_reader(self.outbox.fd)
        self.outbox.drain()  # the last connection losses
        if self._finished.is_set():
            self.inbox.close()
            self.outbox.close()


def collect_garbage_on(loop: asyncio.AbstractEventLoop, every: float = 0.1) -> None:
    """The garbage collector, run by the main loop only. Python collects in whichever thread
    allocates, and a collection finalises what it frees — a leaked socket's close, a uvloop
    handle's — which must happen in the thread whose table and loop own it: in a socket
    thread, a main-thread object's close would hit another file. The generations are
    collected as often as Python's own thresholds would, at most `every` seconds late."""
    gc.disable()
    threshold, older, oldest = gc.get_threshold()

    def tick() -> None:
        young, middle, old = gc.get_count()
        if old >= oldest:
            gc.collect(2)
        elif middle >= older:
            gc.collect(1)
        elif young >= threshold:
            gc.collect(0)
        loop.call_later(every, tick)

    loop.call_later(every, tick)


class Server(uvicorn.Server):
    """uvicorn's server, with the sockets held by `socket_threads` threads when it is
    above 0 (the module's text); otherwise uvicorn's own."""

    def __init__(self, config: uvicorn.Config, socket_threads: int = 0) -> None:
        super().__init__(config)
        self.socket_threads = socket_threads
        self.threads: list[SocketThread] = []
        self.listener: socket.socket | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if not self.socket_threads:
            await super().startup(sockets)
            return
        config = self.config
        # The one listening socket, bound as uvicorn binds it for its workers, before the
        # app starts (an address in use stops here); every socket thread's table holds it.
        self.listener = config.bind_socket()
        self.listener.set_inheritable(False)
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        loop = asyncio.get_running_loop()

        def create_protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state,
                app_state=self.lifespan.state, _loop=loop)

        self.servers = []
        collect_garbage_on(loop)
        for index in range(self.socket_threads):
            thread = SocketThread(index, loop, create_protocol, self.listener, config.backlog)
            self.threads.append(thread)
            thread.start()
        try:
            for thread in self.threads:
                await thread.ready
        except OSError as error:
            log.error("socket thread: %s", error)
            await self.lifespan.shutdown()
            sys.exit(STARTUP_FAILURE)
        log.info("%d socket threads hold the sockets", self.socket_threads)
        self.started = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for thread in self.threads:
            await thread.stop_listening()
        if self.listener is not None:
            self.listener.close()
        await super().shutdown(sockets)
        for thread in self.threads:
            await thread.stop()


def serve(app: str, *, socket_threads: int = 0, **options: Any) -> None:
    """Run `app` under uvicorn with the product's server options (`ops/server.py`)."""
    from .server import SERVER_OPTIONS

    config = uvicorn.Config(app, **{**SERVER_OPTIONS, **options})
    Server(config, socket_threads).run()
