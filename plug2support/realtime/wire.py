"""The product's WebSocket layer under uvicorn: a lean protocol with no task per socket.

uvicorn hands every WebSocket upgrade to the protocol class named by its `ws` option
(`plug2support.ops.server.SERVER_OPTIONS`). Its own classes run the ASGI application as one
task per socket, waiting on a queue, beside a `websockets` connection object: about 20 KiB a
socket before the product's own state (bench/README.md, "Idle widgets"), and one await per
frame written. Most of the product's sockets are idle widgets, so this class drives the
product's `Socket` objects (realtime/sockets.py, realtime/endpoints/) by plain calls instead:

- the handshake is validated and answered by `websockets`' sans-I/O `ServerProtocol`, which
  is then dropped; frames are read by the small RFC 6455 parser below, which keeps nothing
  between frames but the bytes of an unfinished one;
- a frame read is handed to `Socket.received`; a frame written is one `transport.write`, and
  a frame published to many sockets is encoded once (`hub.Frame.wire`);
- keepalive pings come from one timer per process (`Heartbeat`) rather than one per socket.

An idle socket is this object, its transport and the product's `Socket`. Other paths than
the product's endpoints get a 404; the ASGI path (`endpoints.websocket_app`) remains for
servers started without these options.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import weakref
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from websockets.frames import apply_mask  # the C speed-up of `websockets`, when built
from websockets.http11 import Request
from websockets.server import ServerProtocol

from .asgi import WRITE_BUFFER_LIMIT

if TYPE_CHECKING:
    from .hub import Frame
    from .sockets import Socket

log = logging.getLogger(__name__)
# websockets logs every handshake ("connection open") at INFO: one line per widget opened.
_handshake_log = logging.getLogger(__name__ + ".handshake")
_handshake_log.setLevel(logging.WARNING)

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
CLOSE_TOO_BIG = 1009
CLOSE_KEEPALIVE_TIMEOUT = 1011
CLOSE_SERVICE_RESTART = 1012
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_TIMEOUT_SECONDS = 10.0

_HANDSHAKE, _OPEN, _CLOSED = 0, 1, 2


def frame_bytes(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """A server frame (unmasked, final) around `payload`."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return head + payload


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()[:123]


def _refusal(status: int, phrase: str) -> bytes:
    return (f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: 0\r\nconnection: close\r\n\r\n").encode()


class Heartbeat:
    """Pings every open socket once per interval, from one timer per process: the sockets
    are spread over SLICES sets and one set is visited per tick, so a ping costs no timer
    of its own and 20 000 sockets are not pinged in one burst. A socket that has not
    answered the previous ping (browsers answer by themselves) is closed with 1011."""

    SLICES = 20

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.loop = loop
        self.interval = interval
        self.slices: list[set[WebSocketProtocol]] = [set() for _ in range(self.SLICES)]
        self._next_slice = 0
        self._added = 0
        self._timer: asyncio.TimerHandle | None = None

    def add(self, connection: WebSocketProtocol) -> None:
        self._added += 1
        self.slices[self._added % self.SLICES].add(connection)
        if self._timer is None:
            self._timer = self.loop.call_later(self.interval / self.SLICES, self._tick)

    def discard(self, connection: WebSocketProtocol) -> None:
        for members in self.slices:
            if connection in members:
                members.discard(connection)
                return

    def _tick(self) -> None:
        members = self.slices[self._next_slice]
        self._next_slice = (self._next_slice + 1) % self.SLICES
        for connection in tuple(members):
            try:
                connection.heartbeat()
            except Exception:  # one broken socket must not stop the others' pings
                log.exception("keepalive ping failed")
        if any(self.slices):
            self._timer = self.loop.call_later(self.interval / self.SLICES, self._tick)
        else:
            self._timer = None


_heartbeats: dict[asyncio.AbstractEventLoop, Heartbeat] = {}


def _heartbeat(loop: asyncio.AbstractEventLoop, interval: float) -> Heartbeat:
    beat = _heartbeats.get(loop)
    if beat is None or beat.interval != interval:
        if loop.is_closed():
            raise RuntimeError("closed loop")
        # A loop that ended (a test server stopped) leaves its entry: drop closed ones.
        for old in [old for old in _heartbeats if old.is_closed()]:
            del _heartbeats[old]
        beat = _heartbeats[loop] = Heartbeat(loop, interval)
    return beat


class WebSocketProtocol(asyncio.Protocol):
    """One WebSocket connection, from uvicorn's upgrade to the transport's end."""

    __slots__ = ("config", "server_state", "transport", "socket", "_state", "_accept",
                 "_buffer", "_fragments", "_fragment_opcode", "_fragment_size",
                 "_awaiting_pong", "_close_sent", "_paused", "_read_paused", "_drain_waiter",
                 "_close_timer", "_beat")

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.config = config
        self.server_state = server_state
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.socket: Socket | None = None
        self._state = _HANDSHAKE
        self._accept: bytes | None = None  # the 101 response, written once the socket accepts
        self._buffer: bytearray | None = None  # an unfinished frame's bytes
        self._fragments: list[bytes] | None = None  # an unfinished message's frames
        self._fragment_opcode = 0
        self._fragment_size = 0
        self._awaiting_pong = False
        self._close_sent = False
        self._paused = False
        self._read_paused = False  # the Socket's queue of frames is full (sockets.INBOX_PAUSE)
        self._drain_waiter: asyncio.Future[None] | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._beat: Heartbeat | None = None

    # --- asyncio.Protocol ---
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server_state.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        if self._beat is not None:
            self._beat.discard(self)
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._state = _CLOSED
        self._buffer = self._fragments = None
        self._wake_drain_waiter()
        socket, self.socket = self.socket, None
        if socket is not None:
            socket.disconnected()

    def eof_received(self) -> bool | None:
        return None  # close the transport: a half-closed WebSocket is a closed one

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_drain_waiter()

    def _wake_drain_waiter(self) -> None:
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._state == _OPEN:
            self._read_frames(data)
        elif self._state == _HANDSHAKE:
            self._handshake(data)

    # --- the handshake (uvicorn passes the upgrade request, rebuilt from what it parsed) ---
    def _handshake(self, data: bytes) -> None:
        # Not at the top: uvicorn imports this module before the application, so before
        # Django is set up, and the endpoints need Django's models (set up by now).
        from .endpoints import ENDPOINTS

        # No extensions offered back: compression is declined (ops/server.py says why).
        protocol = ServerProtocol(max_size=self.config.ws_max_size, logger=_handshake_log)
        protocol.receive_data(data)
        request = next(iter(protocol.events_received()), None)
        if not isinstance(request, Request):
            self._refuse(_refusal(400, "Bad Request"))
            return
        response = protocol.accept(request)
        protocol.send_response(response)
        answer = b"".join(protocol.data_to_send())
        if response.status_code != 101:  # not a valid WebSocket handshake: its HTTP answer
            self._refuse(answer)
            return
        raw_path, _, query = request.path.partition("?")
        path = unquote(raw_path)
        endpoint = ENDPOINTS.get(path.rstrip("/"))
        if endpoint is None:
            self._refuse(_refusal(404, "Not Found"))
            return
        self._accept = answer
        self._state = _OPEN
        scope = {
            "type": "websocket", "path": path, "query_string": query.encode("latin-1"),
            "headers": [(name.lower().encode("latin-1"), value.encode("latin-1"))
                        for name, value in request.headers.raw_items()],
            "client": _address(self.transport.get_extra_info("peername")),
            "server": _address(self.transport.get_extra_info("sockname")),
            "scheme": "wss" if self.transport.get_extra_info("sslcontext") else "ws",
        }
        self.socket = endpoint(scope, self)
        self.socket.connected(_trusted_scope(self.config))

    def _refuse(self, answer: bytes) -> None:
        self._state = _CLOSED
        if not self.transport.is_closing():
            self.transport.write(answer)
            self._end()

    def _end(self) -> None:
        """Close the transport once what is queued for it is written. A peer that reads
        nothing would keep it open for ever (and uvicorn's shutdown waiting): after
        CLOSE_TIMEOUT_SECONDS it is dropped, so `connection_lost` always comes."""
        self.transport.close()
        self._arm_abort()

    def _arm_abort(self) -> None:
        """Drop the connection CLOSE_TIMEOUT_SECONDS from now unless it is lost first."""
        if self._close_timer is None:
            self._close_timer = asyncio.get_running_loop().call_later(
                CLOSE_TIMEOUT_SECONDS, self.transport.abort)

    # --- what a Socket calls (sockets.Connection) ---
    def accept(self) -> None:
        if self._accept is None or self.transport.is_closing():
            return
        self.transport.write(self._accept)
        self._accept = None
        interval = self.config.ws_ping_interval
        if interval:
            self._beat = _heartbeat(asyncio.get_running_loop(), float(interval))
            self._beat.add(self)

    def send_text(self, text: str) -> None:
        self._write(frame_bytes(text.encode()))

    def send_frame(self, frame: Frame) -> None:
        """A frame from the bus, as published: its wire bytes are made once for every
        socket that sends it."""
        self._write(frame.wire(frame_bytes))

    def _write(self, data: bytes) -> None:
        if self._close_sent or self._accept is not None or self._state == _CLOSED:
            return
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(data)
        if self._paused and transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
            log.warning("closing a socket whose peer stopped reading")
            self.transport.abort()

    def close(self, code: int) -> None:
        if self._state == _CLOSED or self._close_sent:
            return
        if self._accept is not None:
            # Closed before it was accepted: the browser sees the handshake refused, with 500
            # when the server failed (1011: a database error while checking the session).
            self._accept = None
            self._refuse(_refusal(500, "Internal Server Error") if code == 1011
                         else _refusal(403, "Forbidden"))
            return
        self._close_sent = True
        if not self.transport.is_closing():
            self.transport.write(frame_bytes(close_payload(code), OP_CLOSE))
            self._arm_abort()  # the peer's answering close, or the end
        self.resume_reading()  # the peer's answering close must be read

    def pause_reading(self) -> None:
        """The Socket has frames enough queued: read nothing more, not even what is already
        here (the rest of this read waits in `_buffer`)."""
        self._read_paused = True
        if not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self._read_paused:
            return
        self._read_paused = False
        if not self.transport.is_closing():
            self.transport.resume_reading()
        if self._buffer:
            # Soon, not now: the caller may be inside this connection's own reading.
            asyncio.get_running_loop().call_soon(self._read_buffered)

    def _read_buffered(self) -> None:
        if self._state == _OPEN and not self._read_paused and self._buffer:
            self._read_frames(b"")

    async def drained(self) -> None:
        """Until the transport's buffer is below its high-water mark again (or closed)."""
        if self._paused and self._state != _CLOSED:
            if self._drain_waiter is None:
                self._drain_waiter = asyncio.get_running_loop().create_future()
            await self._drain_waiter

    # --- keepalive and shutdown ---
    def heartbeat(self) -> None:
        if self._close_sent or self.transport.is_closing() or self._read_paused:
            return  # (paused: the answer may be waiting unread behind the queued frames)
        if self._awaiting_pong:
            self._fail(CLOSE_KEEPALIVE_TIMEOUT)
            return
        self._awaiting_pong = True
        self.transport.write(b"\x89\x00")  # a ping, final, no payload

    def shutdown(self) -> None:
        """uvicorn is stopping: tell the client to come back (1012)."""
        if self._state == _HANDSHAKE or self._accept is not None:
            self._refuse(_refusal(503, "Service Unavailable"))
            return
        if not self._close_sent and not self.transport.is_closing():
            self.transport.write(frame_bytes(close_payload(CLOSE_SERVICE_RESTART), OP_CLOSE))
        self._close_sent = True
        self._end()

    def _fail(self, code: int) -> None:
        """A protocol error or a dead peer: close at once, without waiting for an answer."""
        if not self._close_sent and not self.transport.is_closing():
            self.transport.write(frame_bytes(close_payload(code), OP_CLOSE))
        self._close_sent = True
        self._state = _CLOSED
        self._end()

    # --- reading frames (RFC 6455, section 5) ---
    def _read_frames(self, data: bytes) -> None:
        buffer = self._buffer
        if buffer is not None:
            buffer += data
            data = buffer  # type: ignore[assignment]
            self._buffer = None
        view = memoryview(data)
        size = len(data)
        offset = 0
        max_size = self.config.ws_max_size
        while self._state == _OPEN and not self._read_paused:
            if size - offset < 2:
                break
            first, second = data[offset], data[offset + 1]
            length = second & 0x7F
            start = offset + 2
            if length == 126:
                if size - start < 2:
                    break
                length = (data[start] << 8) | data[start + 1]
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                length = int.from_bytes(view[start:start + 8], "big")
                start += 8
                if length >> 63:  # RFC 6455 5.2: the most significant bit must be 0
                    self._fail(CLOSE_PROTOCOL_ERROR)
                    return
            if first & 0x70 or not second & 0x80:  # no extension is agreed; clients mask
                self._fail(CLOSE_PROTOCOL_ERROR)
                return
            if length > max_size:
                self._fail(CLOSE_TOO_BIG)
                return
            end = start + 4 + length
            if size < end:
                break
            payload = apply_mask(view[start + 4:end], data[start:start + 4])
            offset = end
            self._frame(first & 0x80, first & 0x0F, payload)
        if offset < size and self._state == _OPEN:
            self._buffer = bytearray(view[offset:])

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode >= OP_CLOSE:
            if not fin or len(payload) > 125:
                self._fail(CLOSE_PROTOCOL_ERROR)
            elif opcode == OP_PING:
                if not self._close_sent:
                    self.transport.write(frame_bytes(payload, OP_PONG))
            elif opcode == OP_PONG:
                self._awaiting_pong = False
            elif opcode == OP_CLOSE:
                self._closing_handshake(payload)
            else:
                self._fail(CLOSE_PROTOCOL_ERROR)
            return
        if opcode == OP_CONT:
            if self._fragments is None:
                self._fail(CLOSE_PROTOCOL_ERROR)
                return
            self._fragment_size += len(payload)
            if self._fragment_size > self.config.ws_max_size:
                self._fail(CLOSE_TOO_BIG)
                return
            self._fragments.append(payload)
            if not fin:
                return
            opcode, payload = self._fragment_opcode, b"".join(self._fragments)
            self._fragments = None
        elif opcode not in (OP_TEXT, OP_BINARY) or self._fragments is not None:
            self._fail(CLOSE_PROTOCOL_ERROR)
            return
        elif not fin:
            self._fragments, self._fragment_opcode = [payload], opcode
            self._fragment_size = len(payload)
            return
        if self._close_sent or self.socket is None:
            return  # closing: what the peer still sends is read and dropped
        if opcode == OP_TEXT:
            try:
                message: str | bytes = payload.decode()
            except UnicodeDecodeError:
                self._fail(CLOSE_INVALID_DATA)
                return
        else:
            message = payload
        self.socket.received(message)

    def _closing_handshake(self, payload: bytes) -> None:
        if self._close_sent:
            self._end()  # the answer to our close: done
            return
        self._close_sent = True
        answer = b""
        if payload:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 0
            if not _sendable_close_code(code):  # a 1-byte body, or a code no peer may send
                answer = close_payload(CLOSE_PROTOCOL_ERROR)
            else:
                try:
                    payload[2:].decode()
                    answer = close_payload(code)
                except UnicodeDecodeError:
                    answer = close_payload(CLOSE_INVALID_DATA)
        self.transport.write(frame_bytes(answer, OP_CLOSE))
        self._end()


def _sendable_close_code(code: int) -> bool:
    """RFC 6455 7.4: the codes an endpoint may put in a close frame (1004–1006 and 1015 are
    reserved, 1016–2999 unassigned)."""
    return 1000 <= code <= 1014 and code not in (1004, 1005, 1006) or 3000 <= code <= 4999


def _address(value: Any) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return None


_trusted: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _trusted_scope(config: Any) -> Any:
    """uvicorn's own X-Forwarded-For handling (`proxy_headers`, `forwarded_allow_ips`),
    applied to the socket's scope as the ASGI path would have it, or None when off."""
    if not getattr(config, "proxy_headers", False):
        return None
    middleware = _trusted.get(config)
    if middleware is None:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        async def keep(scope: Any, receive: Any, send: Any) -> None:
            return None

        middleware = _trusted[config] = ProxyHeadersMiddleware(
            keep, trusted_hosts=config.forwarded_allow_ips)
    return middleware
