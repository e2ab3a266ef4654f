"""Fan-out load: P pairs of sockets, each pair in its own group; in each pair one socket
publishes with W messages in flight, and both members receive every message. Prints READY
once connected and warmed up, waits for a line on stdin, runs for D seconds, prints the
result: deliveries, deliveries/s, and the partner's delivery latency p50/p99/p99.9."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time

from bench.common import percentile
from bench.ws_idle import frame, read_frame


class Conn:
    def __init__(self, kind: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.kind, self.reader, self.writer = kind, reader, writer

    def send(self, payload: dict[str, object]) -> None:
        if self.kind == "socketio":
            event = "join" if payload["type"] == "join" else "msg"
            data = payload["join"] if event == "join" else payload
            text = "42" + json.dumps([event, data])
        else:
            text = json.dumps(payload)
        self.writer.write(frame(text.encode()))

    async def recv(self) -> dict[str, object]:
        while True:
            opcode, data = await read_frame(self.reader)
            if opcode == 0x9:
                self.writer.write(frame(data, opcode=0xA))
                continue
            text = data.decode()
            if self.kind == "socketio":
                if text == "2":  # engine.io ping
                    self.writer.write(frame(b"3"))
                    continue
                if not text.startswith("42"):
                    continue
                return json.loads(text[2:])[1]  # type: ignore[no-any-return]
            return json.loads(text)  # type: ignore[no-any-return]


async def connect(kind: str, port: int) -> Conn:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    path = "/socket.io/?EIO=4&transport=websocket" if kind == "socketio" else "/ws/widget"
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(head.decode(errors="replace"))
    conn = Conn(kind, reader, writer)
    if kind == "socketio":
        await read_frame(reader)  # engine.io open
        writer.write(frame(b"40"))
        await read_frame(reader)  # namespace connected
    return conn


async def pair(kind: str, port: int, group: int, window: int, go: asyncio.Event,
               stop: list[float], latencies: list[float], counts: list[int]) -> None:
    a, b = await connect(kind, port), await connect(kind, port)
    for conn in (a, b):
        conn.send({"type": "join", "join": group})
    # Warm up: wait until a message goes round (both are subscribed).
    while True:
        a.send({"type": "pub", "group": group, "t": 0.0, "warm": True})
        try:
            got = await asyncio.wait_for(b.recv(), timeout=1)
            await a.recv()
            if got.get("warm"):
                break
        except TimeoutError:
            continue
    counts[1] += 1
    await go.wait()

    async def drain_a() -> None:
        while True:
            await a.recv()
            counts[0] += 1

    drainer = asyncio.create_task(drain_a())
    for _ in range(window):
        a.send({"type": "pub", "group": group, "t": time.perf_counter()})
    while time.perf_counter() < stop[0]:
        got = await b.recv()
        now = time.perf_counter()
        counts[0] += 1
        latencies.append(now - float(got["t"]))  # type: ignore[arg-type]
        a.send({"type": "pub", "group": group, "t": time.perf_counter()})
    drainer.cancel()


async def main(args: dict[str, object]) -> None:
    from bench.common import raise_file_limit

    raise_file_limit()
    kind, port = str(args["kind"]), int(args["port"])  # type: ignore[call-overload]
    pairs, window = int(args["pairs"]), int(args.get("window", 4))  # type: ignore[call-overload]
    seconds = float(args["seconds"])  # type: ignore[arg-type]
    go = asyncio.Event()
    stop = [float("inf")]
    latencies: list[float] = []
    counts = [0, 0]  # deliveries, pairs ready
    tasks = [asyncio.create_task(pair(kind, port, g, window, go, stop, latencies, counts))
             for g in range(pairs)]
    while counts[1] < pairs:
        done = [t for t in tasks if t.done() and t.exception()]
        if done:
            raise done[0].exception()  # type: ignore[misc]
        await asyncio.sleep(0.05)
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    start = time.perf_counter()
    stop[0] = start + seconds
    counts[0] = 0
    go.set()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - start
    delivered = counts[0]
    for task in tasks:
        task.cancel()
    print(json.dumps({"deliveries": delivered, "seconds": elapsed,
                      "per_second": delivered / elapsed,
                      "p50_ms": percentile(latencies, 50) * 1000,
                      "p99_ms": percentile(latencies, 99) * 1000,
                      "p999_ms": percentile(latencies, 99.9) * 1000}), flush=True)


if __name__ == "__main__":
    import uvloop

    uvloop.install()
    asyncio.run(main(json.loads(sys.argv[1])))
