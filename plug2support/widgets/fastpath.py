"""The widget configuration request, off Django's request path.

Every page view of every customer site asks for it, so it must cost next to nothing: the
ASGI entry point answers GET /widget/api/<key>/config from the process's widget cache
(widgets/cache.py: the rendered answer, its ETag and the allowed origins), checks the Origin
against them, and answers 304 to a matching If-None-Match. A miss reads the database once
(in a thread); a saved widget is dropped from every process's cache through the bus.
"""

from __future__ import annotations

import json
import re
from typing import Any

from asgiref.sync import sync_to_async

from . import cache
from .cache import Cached
from .origins import normalise_origin

KEY = re.compile(r"[A-Za-z0-9_-]{1,32}")  # what a widget key can be (models._widget_key)
PATH = re.compile(rf"^/widget/api/({KEY.pattern})/config$")


async def lookup(key: str) -> Cached | None:
    """From the process's widget cache; a miss reads the database in a thread."""
    found = cache.peek(key)
    if found is cache.MISSING:
        return await sync_to_async(cache.get)(key)
    return found  # type: ignore[return-value]


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


async def serve(scope: dict[str, Any], receive: Any, send: Any, key: str) -> None:
    origin = _header(scope, b"origin")
    rendered = await lookup(key)
    headers = [(b"content-type", b"application/json"), (b"vary", b"Origin")]
    if origin:
        headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
    if rendered is None:
        status, body = 404, json.dumps({"error": {"code": "widget_not_found",
                                                  "message": "No widget has this key."}}).encode()
    elif rendered.origins and normalise_origin(origin) not in rendered.origins:
        status, body = 403, json.dumps({"error": {
            "code": "origin_not_allowed",
            "message": "This website may not use this widget."}}).encode()
    else:
        headers += [(b"etag", rendered.etag.encode()),
                    (b"cache-control", b"public, max-age=60")]
        matches = [t.strip() for t in _header(scope, b"if-none-match").split(",")]
        status, body = (304, b"") if rendered.etag in matches else (200, rendered.body)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
