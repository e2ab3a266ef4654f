"""A request body's size, decided before the application reads any of it (ASGI).

Django's ASGI handler reads the whole body into a temporary file before any view runs, so a
view that checks `Content-Length` has already waited for (and spooled) everything the client
sends. This guard answers at once when the declared length is over the limit, and cuts off
a body without a declared length (chunked) as soon as it passes the limit: the application
sees a disconnect, stops reading, and the client gets the refusal instead."""

from __future__ import annotations

import json
from typing import Any

Scope = dict[str, Any]


def has_body(scope: Scope) -> bool:
    """Whether the request says it carries a body (a length or a transfer coding)."""
    return any(name in (b"content-length", b"transfer-encoding")
               for name, _value in scope.get("headers", ()))


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses such a request itself
    return None


def refusal(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def wants_html(scope: Scope) -> bool:
    """A browser's own navigation (a form posted by a page) asks for HTML first."""
    for name, value in scope.get("headers", ()):
        if name == b"accept":
            return value.split(b",")[0].strip().startswith(b"text/html")
    return False


async def _refuse(send: Any, body: bytes, content_type: bytes = b"application/json") -> None:
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", content_type), (b"content-length", str(len(body)).encode()),
        # The rest of the body is never read: the connection cannot serve another request.
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def limit_body(app: Any, scope: Scope, receive: Any, send: Any, *, limit: int,
                     too_large: bytes, page: bytes | None = None) -> None:
    """Run `app` on a body of at most `limit` bytes, else answer 413 with `too_large` (JSON),
    or with `page` (an HTML document) when given and a browser's form asked for HTML."""
    if page is not None and wants_html(scope):
        too_large, content_type = page, b"text/html; charset=utf-8"
    else:
        content_type = b"application/json"
    declared = declared_length(scope)
    if declared is not None and declared > limit:
        await _refuse(send, too_large, content_type)
        return
    received = 0
    cut = False

    async def counted() -> dict[str, Any]:
        nonlocal received, cut
        if cut:
            return {"type": "http.disconnect"}
        message: dict[str, Any] = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                cut = True
                return {"type": "http.disconnect"}
        return message

    await app(scope, counted, send)
    if cut:
        # Django gave up reading at the disconnect and answered nothing: the refusal is ours.
        await _refuse(send, too_large, content_type)
