"""The socket endpoints, by path (`ENDPOINTS`: wire.py's handshake and `websocket_app` route
by it, a trailing `/` ignored), and `websocket_app`, the ASGI path to them for a server
started without the product's own WebSocket protocol (wire.py)."""

from __future__ import annotations

from typing import Any

from ..asgi import AsgiConnection, Scope
from ..sockets import CLOSE_NOT_FOUND, Socket
from .operator import OperatorSocket
from .widget import WidgetSocket

ENDPOINTS: dict[str, type[Socket]] = {
    "/ws/widget": WidgetSocket,
    "/ws/operator": OperatorSocket,
}


async def websocket_app(scope: Scope, receive: Any, send: Any) -> None:
    """The ASGI path to the same sockets (wire.py is the one uvicorn uses with the
    product's SERVER_OPTIONS). Here the one task per socket is this loop."""
    endpoint = ENDPOINTS.get(scope["path"].rstrip("/"))
    if endpoint is None:
        await receive()
        await send({"type": "websocket.close", "code": CLOSE_NOT_FOUND})
        return
    connection = AsgiConnection(send)
    socket = endpoint(scope, connection)
    if (await receive())["type"] != "websocket.connect":
        return
    socket.connected()
    while True:
        await connection.readable.wait()  # the Socket's queue of frames has room
        message = await receive()
        if message["type"] == "websocket.disconnect":
            break
        if message["type"] == "websocket.receive":
            socket.received(message.get("text") or message.get("bytes") or "")
    socket.disconnected()
    await connection.drained()
