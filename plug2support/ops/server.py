"""The options every process serving the product gives uvicorn (`run`, `web`, the benchmarks).

- Per-message compression is off. Browsers offer permessage-deflate on every WebSocket, and
  an accepted offer keeps a zlib compressor and decompressor per socket for its lifetime
  (hundreds of KiB at the default window) — the widget's idle sockets would cost far more
  than their frames, which are small JSON that compresses poorly anyway. bench/README.md
  has the measurement.
- Frames are bounded (the server also checks SOCKET_FRAME_MAX_BYTES per frame type).
- uvloop and httptools: the fastest event loop and HTTP parser uvicorn supports.
- WebSockets are served by the product's own protocol class (`realtime/wire.py`): no task
  per socket, about a quarter of the memory of uvicorn's own WebSocket protocols.
"""

from __future__ import annotations

from typing import Any

SERVER_OPTIONS: dict[str, Any] = {
    "lifespan": "on",
    "loop": "uvloop",
    "http": "httptools",
    "ws": "plug2support.realtime.wire:WebSocketProtocol",
    "ws_max_size": 1024 * 1024,
    "ws_per_message_deflate": False,
}
