"""Start the product's ASGI app under uvicorn for a benchmark, with a raised file limit and
the production options (plug2support/ops/server.py). Argument: JSON {"port", "ws_ping"}."""

from __future__ import annotations

import json
import sys
from typing import Any


def run(args: dict[str, Any]) -> None:
    from bench.common import raise_file_limit

    raise_file_limit()
    import uvicorn

    from plug2support.ops.server import SERVER_OPTIONS

    uvicorn.run("plug2support.asgi:application", host="127.0.0.1", port=int(args["port"]),
                log_level="warning", access_log=False,
                ws_ping_interval=float(args.get("ws_ping", 20)), backlog=4096, **SERVER_OPTIONS)


if __name__ == "__main__":
    run(json.loads(sys.argv[1]))
