"""Open widget sockets (raw WebSocket over loopback: a handshake offering per-message
compression as browsers do, a hello, then only answers to the server's pings). For each of
the counts given, open sockets up to that count, print READY with the accept rate of that
step, and wait for a line on stdin before the next step; hold until stdin closes."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import sys
import time
import zlib

# What Chromium sends on every WebSocket handshake.
BROWSER_EXTENSIONS = "permessage-deflate; client_max_window_bits"


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A client frame: masked (RFC 6455), the XOR done on one big integer."""
    mask = os.urandom(4)
    length = len(payload)
    head = bytes([0x80 | opcode])
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    key = int.from_bytes((mask * (length // 4 + 1))[:length], "big")
    return head + mask + (int.from_bytes(payload, "big") ^ key).to_bytes(length, "big")


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", await reader.readexactly(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", await reader.readexactly(8))[0]
    payload = await reader.readexactly(length)
    if first & 0x40:  # RSV1: compressed (a server that accepted permessage-deflate)
        payload = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
    return first & 0x0F, payload


async def widget_socket(host: str, port: int, widget: str, token: str,
                        opened: list[float], failed: list[str]) -> None:
    """Connect, hello, wait for the welcome (answering pings meanwhile), then stay idle.
    A socket that fails before its welcome is counted in `failed` with the reason."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET /ws/widget HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      f"Sec-WebSocket-Version: 13\r\n"
                      f"Sec-WebSocket-Extensions: {BROWSER_EXTENSIONS}\r\n"
                      f"Origin: http://{host}:{port}\r\n\r\n").encode())
        await reader.readuntil(b"\r\n\r\n")
        writer.write(frame(json.dumps({"type": "hello", "widget": widget,
                                       "token": token}).encode()))
        while True:  # until the welcome
            opcode, payload = await read_frame(reader)
            if opcode == 0x9:
                writer.write(frame(payload, opcode=0xA))
            elif opcode == 0x8:
                raise ConnectionError(f"closed before the welcome: {payload[:2].hex()}")
            elif opcode == 0x1 and b'"welcome"' in payload:
                break
            elif opcode == 0x1 and b'"error"' in payload:
                raise ConnectionError(payload.decode(errors="replace")[:200])
    except (OSError, asyncio.IncompleteReadError, ConnectionError) as error:
        failed.append(f"{type(error).__name__}: {error}")
        return
    opened.append(time.perf_counter())
    while True:  # idle: answer pings, ignore the rest
        try:
            opcode, payload = await read_frame(reader)
        except (OSError, asyncio.IncompleteReadError):
            return
        if opcode == 0x9:
            writer.write(frame(payload, opcode=0xA))
        elif opcode == 0x8:
            return


async def main(args: dict[str, object]) -> None:
    from bench.common import raise_file_limit

    raise_file_limit()
    host, port, widget = "127.0.0.1", int(args["port"]), str(args["widget"])  # type: ignore[call-overload]
    counts = [int(c) for c in args["counts"]]  # type: ignore[attr-defined]
    offset = int(args.get("offset", 0))  # type: ignore[call-overload]
    opened: list[float] = []
    failed: list[str] = []
    tasks = []
    batch = 200  # connect in waves: the listen backlog is finite
    loop = asyncio.get_running_loop()
    for step, count in enumerate(counts):
        start = time.perf_counter()
        before = len(opened)
        for i in range(len(tasks), count, batch):
            for j in range(i, min(count, i + batch)):
                tasks.append(asyncio.create_task(
                    widget_socket(host, port, widget, f"bench-{offset + j}", opened, failed)))
            # A wave is done when each of its sockets is welcomed or failed; a server that
            # stalls for a minute ends the step (what was held is reported).
            deadline = time.perf_counter() + 60
            while (len(opened) + len(failed) < min(count, i + batch)  # noqa: ASYNC110
                   and time.perf_counter() < deadline):
                await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - start
        print("READY " + json.dumps({"connected": len(opened), "seconds": elapsed,
                                     "accept_rate": (len(opened) - before) / elapsed,
                                     "failed": len(failed), "why": sorted(set(failed))[:3]}),
              flush=True)
        if step < len(counts) - 1:
            await loop.run_in_executor(None, sys.stdin.readline)
    await loop.run_in_executor(None, sys.stdin.read)
    for task in tasks:
        task.cancel()


if __name__ == "__main__":
    import uvloop

    uvloop.install()
    asyncio.run(main(json.loads(sys.argv[1])))
