"""The ASGI floor of the idle-widgets scenario: a bare ASGI app (accept, answer the hello with
a welcome, then wait) under uvicorn with the product's server options but uvicorn's own
WebSocket protocol (`websockets-sansio`, what the product used before its own, wire.py).
What one idle socket costs an ASGI application before any of its own objects exist.
Argument: JSON {"port", "ws_ping"}."""

from __future__ import annotations

import json
import sys
from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    await receive()  # the hello
    await send({"type": "websocket.send", "text": '{"type":"welcome"}'})
    while (await receive())["type"] != "websocket.disconnect":
        pass


def main() -> None:
    args = json.loads(sys.argv[1])
    from bench.common import raise_file_limit

    raise_file_limit()
    import uvicorn

    from plug2support.ops.server import SERVER_OPTIONS

    uvicorn.run(app, host="127.0.0.1", port=int(args["port"]), log_level="warning",
                access_log=False, ws_ping_interval=float(args.get("ws_ping", 20)),
                backlog=4096, **{**SERVER_OPTIONS, "ws": "websockets-sansio"})


if __name__ == "__main__":
    main()
