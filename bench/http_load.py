"""HTTP/1.1 keep-alive load over loopback: C connections repeat one GET for T seconds (or
until N requests). Prints {"requests", "seconds", "rps", "p50_ms", "p99_ms", "statuses"}."""

from __future__ import annotations

import asyncio
import json
import sys
import time

from bench.common import percentile


async def connection(host: str, port: int, request: bytes, deadline: float,
                     latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def main(args: dict[str, object]) -> dict[str, object]:
    host, port = str(args["host"]), int(args["port"])  # type: ignore[call-overload]
    headers = "".join(f"{k}: {v}\r\n" for k, v in dict(args.get("headers", {})).items())  # type: ignore[call-overload]
    request = (f"GET {args['path']} HTTP/1.1\r\nHost: {host}:{port}\r\n{headers}\r\n").encode()
    seconds = float(args.get("seconds", 5))  # type: ignore[arg-type]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(connection(host, port, request, deadline, latencies, statuses)
                           for _ in range(int(args.get("connections", 32)))))  # type: ignore[call-overload]
    elapsed = time.perf_counter() - start
    return {"requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "statuses": statuses}


if __name__ == "__main__":
    import uvloop

    uvloop.install()
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
