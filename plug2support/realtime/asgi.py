"""The ASGI side of a socket: what its handshake's scope says (headers, the client's address,
whether its Origin may open a socket) and `AsgiConnection`, a Socket's connection over ASGI's
`send` for a server started without the product's own WebSocket protocol (wire.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from .hub import Frame

# A peer that stops reading while frames keep coming for it: past this many bytes queued
# on its transport the socket is closed (1013), by wire.py's protocol and `AsgiConnection`
# alike; it resumes from its sequence numbers.
WRITE_BUFFER_LIMIT = 4 * 1024 * 1024

log = logging.getLogger(__name__)

Scope = dict[str, Any]


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def client_ip(scope: Scope) -> str:
    client = scope.get("client") or ("", 0)
    return str(client[0])


def origin_allowed(scope: Scope) -> bool:
    """Cross-site WebSocket hijacking defence: browsers always send Origin on a WebSocket
    handshake, and a page elsewhere cannot forge it. We accept our own origin (same host as
    the request, which must be an allowed host) and CSRF_TRUSTED_ORIGINS."""
    origin = header(scope, b"origin")
    if not origin:
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    host = (header(scope, b"host") or "").lower()
    netloc = urlsplit(origin).netloc.lower()
    if not host or netloc != host:
        return False
    domain, _port = split_domain_port(host)
    return validate_host(domain, settings.ALLOWED_HOSTS)


class AsgiConnection:
    """A Socket's connection over ASGI's `send`, for a server started without the
    product's own WebSocket protocol (wire.py): frames queue in order and one task at a
    time sends them."""

    def __init__(self, send: Any) -> None:
        self._send = send
        self._out: deque[dict[str, Any]] = deque()
        self._queued = 0  # characters of text waiting in _out
        self._writer: asyncio.Task[None] | None = None
        self.readable = asyncio.Event()  # cleared while the Socket's frame queue is full
        self.readable.set()
        self._dropped = False

    def _queue(self, message: dict[str, Any]) -> None:
        if self._dropped:
            return
        self._queued += len(message.get("text") or "")
        if self._queued > WRITE_BUFFER_LIMIT:  # the same limit as wire.py's
            # Nothing more for this peer but a close; the read loop ends when it goes.
            log.warning("closing a socket whose peer stopped reading")
            self._dropped = True
            self._out.clear()
            message = {"type": "websocket.close", "code": 1013}
        self._out.append(message)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(
                self._write_all(), context=contextvars.Context())

    async def _write_all(self) -> None:
        try:
            while self._out:
                message = self._out.popleft()
                self._queued -= len(message.get("text") or "")
                await self._send(message)
        except Exception:  # the peer went away: nothing more can be sent
            self._out.clear()
        finally:
            self._writer = None

    def accept(self) -> None:
        self._queue({"type": "websocket.accept"})

    def send_text(self, text: str) -> None:
        self._queue({"type": "websocket.send", "text": text})

    def send_frame(self, frame: Frame) -> None:
        self._queue({"type": "websocket.send", "text": frame.text})

    def close(self, code: int) -> None:
        self._queue({"type": "websocket.close", "code": code})
        self.readable.set()  # the read loop must go on to see the disconnect

    def pause_reading(self) -> None:
        self.readable.clear()

    def resume_reading(self) -> None:
        self.readable.set()

    async def drained(self) -> None:
        while self._writer is not None:
            await asyncio.wait([self._writer])
