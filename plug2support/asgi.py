"""ASGI entry point: HTTP goes to Django, /ws/* to the real-time hub's socket endpoints."""

from __future__ import annotations

import asyncio
import gc
import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plug2support.settings")

from asgiref.sync import sync_to_async  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.db import connections  # noqa: E402
from django.urls import get_resolver  # noqa: E402

django_app = get_asgi_application()

from plug2support.lib.bodylimit import has_body  # noqa: E402
from plug2support.ops import body_limits  # noqa: E402
from plug2support.realtime.dbthreads import close_db_threads  # noqa: E402
from plug2support.realtime.endpoints import websocket_app  # noqa: E402
from plug2support.realtime.hub import hub  # noqa: E402
from plug2support.realtime.presence import start_presence_heartbeat  # noqa: E402
from plug2support.widgets import cache as widget_cache  # noqa: E402
from plug2support.widgets import fastpath  # noqa: E402


def settle_heap() -> None:
    """What the server loaded to start (Django, the apps, the URLconf) lives as long as the
    process: keep it out of the garbage collector's full collections (gc.freeze), which
    otherwise walk every one of those objects: pauses of 50–97 ms measured in the middle of
    the end-to-end runs (bench/README.md). Collected first, so no garbage is kept."""
    get_resolver().url_patterns  # noqa: B018 (import the URLconf now, not on a first request)
    gc.collect()
    gc.freeze()


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        # The widget configuration (every page view of every customer site) skips Django.
        match = fastpath.PATH.match(scope["path"]) if scope["method"] == "GET" else None
        if match:
            await fastpath.serve(scope, receive, send, match.group(1))
        elif has_body(scope):  # its size is checked before Django reads any of it
            await body_limits.guarded(django_app, scope, receive, send)
        else:
            await django_app(scope, receive, send)
    elif scope["type"] == "websocket":
        await websocket_app(scope, receive, send)
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await hub.start()
                hub.subscribe(widget_cache.invalidator, widget_cache.WIDGETS_TOPIC)
                start_presence_heartbeat()
                settle_heap()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await hub.stop()
                # The socket handlers' database connections live in asgiref's shared thread
                # or in the sockets' own database threads.
                await sync_to_async(connections.close_all)()
                await asyncio.to_thread(close_db_threads)
                await send({"type": "lifespan.shutdown.complete"})
                return
