"""The widget configuration request, off Django's request path.

Every page view of every customer site asks for it, so it must cost next to nothing: the
ASGI entry point answers GET /widget/api/<key>/config from a small per-process cache of the
rendered answer (body and ETag), checks the Origin against the widget's allowed origins, and
answers 304 to a matching If-None-Match. A miss reads the database once (in a thread). A
saved widget is dropped from every process's cache through the real-time bus; the entries
also expire after CONFIG_CACHE_SECONDS, as a safety net.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

PATH = re.compile(r"^/widget/api/([A-Za-z0-9_-]{1,32})/config$")
CONFIG_CACHE_SECONDS = 30
CACHE_MAX = 10_000
WIDGETS_TOPIC = "widgets"


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str
    origins: tuple[str, ...]  # empty: any origin
    expires: float


_cache: dict[str, Rendered | None] = {}
_expiry: dict[str, float] = {}


def render(widget: Any) -> tuple[bytes, str]:
    body = json.dumps({
        "widget": widget.key,
        "title": widget.title,
        "frame_url": f"{settings.PUBLIC_URL}/widget/frame/{widget.key}/",
        "heartbeat_seconds": settings.SITE_HEARTBEAT_SECONDS,
    }).encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _load(key: str) -> Rendered | None:
    from .models import Widget

    widget = Widget.objects.filter(key=key).first()
    if widget is None:
        return None
    body, etag = render(widget)
    return Rendered(body, etag, tuple(widget.origin_list), time.monotonic() + CONFIG_CACHE_SECONDS)


def forget(key: str) -> None:
    from . import cache

    _cache.pop(key, None)
    _expiry.pop(key, None)
    cache.forget(key)  # the widget sockets' hello reads it too


class _Invalidator:
    """Listens on the bus: a widget (or its hours) saved in any process is dropped here."""

    def deliver(self, topic: str, payload: dict[str, Any]) -> None:
        forget(str(payload.get("key", "")))


invalidator = _Invalidator()


async def lookup(key: str) -> Rendered | None:
    now = time.monotonic()
    if key in _cache and _expiry.get(key, 0) > now:
        return _cache[key]
    rendered = await sync_to_async(_load)(key)
    if len(_cache) >= CACHE_MAX:
        _cache.clear()
        _expiry.clear()
    _cache[key] = rendered
    # Unknown keys are remembered briefly too, so a flood of them costs no queries.
    _expiry[key] = now + (CONFIG_CACHE_SECONDS if rendered else 5)
    return rendered


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


async def serve(scope: dict[str, Any], receive: Any, send: Any, key: str) -> None:
    from .models import normalise_origin

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
