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
- The access log writes each query string's names without their values (N8): a signed
  attachment link (`?sig=`), a search (`?q=`) or a token a client put in a URL against the
  docs stays out of the logs.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG


class QueryValuesFilter(logging.Filter):
    """uvicorn's access records carry (client, method, path with query, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], without_query_values(args[2]), *args[3:])
        return True


def without_query_values(path: str) -> str:
    """"/a?sig=xyz&page=2" → "/a?sig=…&page=…"."""
    path, mark, query = path.partition("?")
    if not mark:
        return path
    names = (part.partition("=")[0] for part in query.split("&") if part)
    return path + "?" + "&".join(f"{name}=…" for name in names)


def _log_config() -> dict[str, Any]:
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"query_values": {"()": QueryValuesFilter}}
    config["handlers"]["access"]["filters"] = ["query_values"]
    return config


SERVER_OPTIONS: dict[str, Any] = {
    "lifespan": "on",
    "loop": "uvloop",
    "http": "httptools",
    "ws": "plug2support.realtime.wire:WebSocketProtocol",
    "ws_max_size": 1024 * 1024,
    "ws_per_message_deflate": False,
    "log_config": _log_config(),
}
