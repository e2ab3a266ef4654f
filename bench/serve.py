"""Start the product's ASGI app under uvicorn for a benchmark, with a raised file limit and
the production options (plug2support/ops/server.py). Argument: JSON {"port", "ws_ping",
"socket_threads"}."""

from __future__ import annotations

import json
import sys
from typing import Any


def run(args: dict[str, Any]) -> None:
    from bench.common import raise_file_limit

    raise_file_limit()
    from plug2support.ops.socket_threads import serve

    # socket_threads > 0: the sockets in threads with a file table each (`web
    # --socket-threads`), for more sockets than one table's limit.
    serve("plug2support.asgi:application", socket_threads=int(args.get("socket_threads", 0)),
          host="127.0.0.1", port=int(args["port"]), log_level="warning", access_log=False,
          ws_ping_interval=float(args.get("ws_ping", 20)), backlog=4096)


if __name__ == "__main__":
    run(json.loads(sys.argv[1]))
