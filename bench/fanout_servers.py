"""The same fan-out workload behind four servers, for the fan-out core comparison:
the product's hub (its real Socket and Hub classes; in-process or Redis bus), Django Channels
(in-memory layer or RedisPubSubChannelLayer) and python-socketio (in-memory or Redis manager).

Protocol (JSON text frames): the client sends {"join": group}; then {"group": g, "t": ...}
frames, which the server publishes to every member of the group, the sender included.
python-socketio speaks its own protocol: events "join" and "msg" with the same payloads.

Run: python -m bench.fanout_servers '{"kind": "hub"|"channels"|"socketio", "port": N,
"redis": "redis://…" or "", "idle": false, "ws_ping": null}'
With "idle": true, Channels serves the idle-widgets comparison instead (IdleConsumer).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def hub_app() -> Any:
    import django

    django.setup()
    from plug2support.realtime.endpoints import ENDPOINTS
    from plug2support.realtime.hub import hub
    from plug2support.realtime.sockets import Socket

    class BenchSocket(Socket):
        async def handle(self, frame: dict[str, Any]) -> None:
            if frame["type"] == "join":
                self.subscribe(f"bench:{frame['join']}")
            else:
                hub.publish(f"bench:{frame['group']}", frame)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await hub.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

    # Served by the product's own WebSocket protocol (plug2support/realtime/wire.py), as the
    # product's sockets are.
    ENDPOINTS["/ws/widget"] = BenchSocket
    return app


def channels_app(redis: str, idle: bool = False) -> Any:
    import django
    from django.conf import settings

    settings.CHANNEL_LAYERS = {"default": (
        {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
         "CONFIG": {"hosts": [redis]}} if redis else
        {"BACKEND": "channels.layers.InMemoryChannelLayer"})}
    django.setup()
    from channels.generic.websocket import AsyncJsonWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.core.asgi import get_asgi_application
    from django.urls import path

    class Consumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
        async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
            if content["type"] == "join":
                await self.channel_layer.group_add(f"bench{content['join']}", self.channel_name)
            else:
                await self.channel_layer.group_send(f"bench{content['group']}",
                                                    {"type": "relay", "frame": content})

        async def relay(self, event: dict[str, Any]) -> None:
            await self.send_json(event["frame"])

    class IdleConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
        """The idle-widgets comparison: the product's own hello (the same database reads, the
        same welcome) behind a Channels consumer, joined to the same two groups."""

        async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
            from channels.db import database_sync_to_async

            from plug2support.conversations.opening import do_open_for_hello
            from plug2support.conversations.snapshot import welcome as welcome_of

            if content.get("type") != "hello":
                return
            identified = await database_sync_to_async(do_open_for_hello)(
                content.get("widget"), content.get("token"), identity=content.get("identity"),
                invite=content.get("invite"), vid=content.get("vid"), ip="127.0.0.1")
            if identified is None:  # the bench's widget key is always known
                await self.close()
                return
            opened, schedule = identified
            visitor = opened.visitor
            await self.channel_layer.group_add(f"visitor{visitor.pk}", self.channel_name)
            await self.channel_layer.group_add(f"availability{visitor.widget.company_id}",
                                               self.channel_name)
            welcome = await database_sync_to_async(welcome_of)(opened, schedule, True)
            await self.send_json(welcome)

    consumer = IdleConsumer if idle else Consumer
    return ProtocolTypeRouter({"http": get_asgi_application(),
                               "websocket": URLRouter([path("ws/widget", consumer.as_asgi())])})


def socketio_app(redis: str) -> Any:
    import socketio

    manager = socketio.AsyncRedisManager(redis) if redis else None
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager,
                               cors_allowed_origins="*")

    @sio.on("join")  # type: ignore[misc]
    async def join(sid: str, group: Any) -> None:
        await sio.enter_room(sid, f"bench{group}")

    @sio.on("msg")  # type: ignore[misc]
    async def msg(sid: str, frame: dict[str, Any]) -> None:
        await sio.emit("msg", frame, room=f"bench{frame['group']}")

    async def health(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return socketio.ASGIApp(sio, other_asgi_app=health)


def main() -> None:
    args = json.loads(sys.argv[1])
    from bench.common import raise_file_limit

    raise_file_limit()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plug2support.settings")
    redis = args.get("redis", "")
    if args["kind"] == "hub":
        os.environ["REDIS_URL"] = redis
        app = hub_app()
    elif args["kind"] == "channels":
        os.environ["REDIS_URL"] = ""
        app = channels_app(redis, idle=bool(args.get("idle")))
    else:
        app = socketio_app(redis)
    import uvicorn

    from plug2support.ops.server import SERVER_OPTIONS

    # Each server with uvicorn's defaults, but the product's hub with the product's own
    # WebSocket protocol.
    extra = {"ws": SERVER_OPTIONS["ws"]} if args["kind"] == "hub" else {}
    uvicorn.run(app, host="127.0.0.1", port=int(args["port"]), log_level="warning",
                access_log=False, lifespan="auto" if args["kind"] != "hub" else "on",
                ws_ping_interval=args.get("ws_ping"), backlog=4096, **extra)


if __name__ == "__main__":
    main()
