"""End-to-end load: C visitors on widget sockets send messages at a fixed offered rate; the
team's K operator sockets receive them. Argument: JSON

    {"widget_port", "operator_port", "widget", "token_pattern", "conversations",
     "sessions", "cookie", "follow": true, "warmup": 50,
     "rates": [...], "seconds", "drain", "p99_limit_ms", "min_achieved"}   # "rates": standalone

Setup, not measured: the K operator sockets connect (session cookie) and get their welcome
and inbox; then the C widget sockets say hello with the known tokens (`bench-e2e-<n>`) and
read their welcome, which names the visitor's conversation (created by bench/e2e_setup.py);
with `follow`, operator k subscribes to every conversation i with i % K == k (each
conversation is open in one console); then `warmup` messages, one per conversation.

A step offers `rate` messages/s for `seconds` seconds, open loop: message i is planned at
t0 + i/rate and goes to conversation i mod C (so each conversation gets rate/C per second,
evenly spaced); the scheduler sends whatever is due whatever the replies, and every latency
is measured from the planned time (no coordinated omission; the scheduler's own lateness is
reported as `send_late_p99_ms`). Per message:
- ack: the visitor's socket receives the `ack` (sent by the server once the message is
  committed);
- delivery: every operator socket received the `conversation` frame carrying it (its
  `preview`) and, with `follow`, the operator following the conversation received its
  `event` frame: the message is everywhere it should be on the team's side.
A step stops sending early when more than one second's worth of messages is unacknowledged
(the server is over a second behind: the step is broken anyway, and a bigger backlog would
only lengthen the run). It then waits up to `drain` seconds after the last send; a message
not acknowledged and delivered by then is `lost`. `achieved` is the messages delivered
divided by the time from the step's start to the last delivery.

Each step prints one JSON line. Standalone (`rates` given), steps run in order and stop at the
first that breaks (delivery p99 over `p99_limit_ms`, achieved under `min_achieved` × offered,
or anything lost). Otherwise it prints `READY {...}` and runs one step per JSON line read
from stdin ({"rate", "seconds", "drain"}) until stdin closes: bench/e2e.py drives it so that
it can read the server's CPU time around each step.

Frames are built and parsed by hand on asyncio protocols (uvloop), the same as ws_idle.py:
cheaper per message on the load core than a WebSocket library.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import sys
import time
from base64 import b64encode
from typing import Any

from bench.common import percentile
from bench.ws_idle import frame

ACK = re.compile(rb'^\{"type":"ack","ref":(\d+)')
ERROR_REF = re.compile(rb'"ref":(\d+)')
ERROR_CODE = re.compile(rb'"code":"([a-z_]+)"')
PREVIEW = re.compile(rb'"preview":"#(\d+) ')
BODY = re.compile(rb'"body":"#(\d+) ')
BODY_TEXT = "Hello, I ordered a blue kettle last week and it has not arrived yet. Can you check?"



class Conn(asyncio.Protocol):
    """One WebSocket client connection; `on_text(payload)` for every text frame."""

    def __init__(self, on_text: Any) -> None:
        self.on_text = on_text
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed during the handshake"))

    def send(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(frame(text.encode()))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[:buf.find(b"\r\n")])
            del buf[:end + 4]
            if b" 101 " not in status:
                self.upgraded.set_exception(ConnectionError(status.decode(errors="replace")))
                return
            self.upgraded.set_result(None)
        while len(buf) >= 2:
            length, start = buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, start = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, start = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < start + length:
                return
            opcode = buf[0] & 0x0F
            payload = bytes(buf[start:start + length])
            del buf[:start + length]
            if opcode == 0x1 or opcode == 0x2:
                self.on_text(payload)
            elif opcode == 0x9 and self.transport is not None:
                self.transport.write(frame(payload, opcode=0xA))
            elif opcode == 0x8:
                self.closed = True
                self.on_text(b'{"type":"_closed","code":%d}' % (
                    int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005))


async def connect(port: int, path: str, on_text: Any, headers: str = "") -> Conn:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(lambda: Conn(on_text), "127.0.0.1", port)
    key = b64encode(os.urandom(16)).decode()
    assert conn.transport is not None
    conn.transport.write((
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://127.0.0.1:{port}\r\n{headers}\r\n").encode())
    await asyncio.wait_for(conn.upgraded, timeout=30)
    return conn


class Tracker:
    """Per message (its number n): planned send time, ack time, time it was everywhere."""

    def __init__(self, need: int) -> None:
        self.need = need
        self.planned: list[float] = []
        self.sent_at: list[float] = []
        self.acked: list[float] = []
        self.done: list[float] = []
        self.remaining: list[int] = []
        self.errors: dict[str, int] = {}
        self.failed: set[int] = set()
        self.acks = 0
        self.completed = 0

    def new(self, planned: float) -> int:
        self.planned.append(planned)
        self.sent_at.append(0.0)
        self.acked.append(0.0)
        self.done.append(0.0)
        self.remaining.append(self.need)
        return len(self.planned) - 1

    def ack(self, n: int, now: float) -> None:
        if n < len(self.acked) and not self.acked[n]:
            self.acked[n] = now
            self.acks += 1

    def error(self, n: int | None, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1
        if n is not None and n < len(self.planned) and n not in self.failed:
            self.failed.add(n)

    def delivered(self, n: int, now: float) -> None:
        if n < len(self.remaining) and self.remaining[n] > 0:
            self.remaining[n] -= 1
            if self.remaining[n] == 0:
                self.done[n] = now
                self.completed += 1

    def is_settled(self, n: int) -> bool:
        return bool(self.acked[n] and self.done[n]) or n in self.failed

    def settled(self, first: int, last: int) -> bool:
        return all(self.is_settled(n) for n in range(first, last))

    def progress(self) -> int:
        return self.acks + self.completed + len(self.failed)


class Load:
    def __init__(self, args: dict[str, Any]) -> None:
        self.args = args
        self.conversations = int(args["conversations"])
        self.sessions: list[str] = list(args["sessions"])
        self.follow = bool(args.get("follow", True))
        self.tracker = Tracker(len(self.sessions) + (1 if self.follow else 0))
        self.prefix = secrets.token_hex(4)
        self.widgets: list[Conn] = []
        self.welcomes: dict[int, dict[str, Any]] = {}
        self.operators: list[Conn] = []
        self.operator_frames: list[dict[str, int]] = []
        self.closes: list[bytes] = []

    # --- frames in ---
    def widget_text(self, index: int) -> Any:
        tracker = self.tracker
        perf = time.perf_counter

        def on_text(data: bytes) -> None:
            match = ACK.match(data)
            if match:
                tracker.ack(int(match.group(1)), perf())
            elif data.startswith(b'{"type":"error"'):
                ref, code = ERROR_REF.search(data), ERROR_CODE.search(data)
                tracker.error(int(ref.group(1)) if ref else None,
                              code.group(1).decode() if code else "?")
            elif data.startswith(b'{"type":"welcome"'):
                self.welcomes[index] = json.loads(data)
            elif data.startswith(b'{"type":"_closed"'):
                self.closes.append(data)
        return on_text

    def operator_text(self, index: int) -> Any:
        tracker = self.tracker
        perf = time.perf_counter
        counts = {"welcome": 0, "inbox": 0, "subscribed": 0}
        self.operator_frames.append(counts)

        def on_text(data: bytes) -> None:
            if data.startswith(b'{"type":"conversation"'):
                match = PREVIEW.search(data)
                if match:
                    tracker.delivered(int(match.group(1)), perf())
            elif data.startswith(b'{"type":"event"'):
                match = BODY.search(data)
                if match:
                    tracker.delivered(int(match.group(1)), perf())
            elif data.startswith(b'{"type":"subscribed"'):
                counts["subscribed"] += 1
            elif data.startswith(b'{"type":"welcome"'):
                counts["welcome"] += 1
            elif data.startswith(b'{"type":"inbox"'):
                counts["inbox"] += 1
            elif data.startswith(b'{"type":"_closed"') or data.startswith(b'{"type":"error"'):
                self.closes.append(data)
        return on_text

    # --- setup ---
    async def wait_for(self, condition: Any, within: float, what: str) -> None:
        deadline = time.perf_counter() + within
        while not condition():
            if self.closes:
                raise RuntimeError(f"{what}: {self.closes[0].decode(errors='replace')}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{what}: timed out")
            await asyncio.sleep(0.01)

    async def setup(self) -> dict[str, Any]:
        args = self.args
        cookie = str(args.get("cookie", "sessionid"))
        started = time.perf_counter()
        for k, session in enumerate(self.sessions):
            self.operators.append(await connect(
                int(args["operator_port"]), "/ws/operator", self.operator_text(k),
                f"Cookie: {cookie}={session}\r\n"))
        await self.wait_for(lambda: all(c["inbox"] for c in self.operator_frames), 60,
                            "operators' welcome and inbox")
        operators_at = time.perf_counter()
        pattern = str(args.get("token_pattern", "bench-e2e-{n}"))
        batch = 100  # connect in waves: the listen backlog and the hello rate are finite
        for first in range(0, self.conversations, batch):
            wave = range(first, min(self.conversations, first + batch))
            self.widgets += await asyncio.gather(*(
                connect(int(args["widget_port"]), "/ws/widget", self.widget_text(i))
                for i in wave))
            for i in wave:
                self.widgets[i].send(json.dumps({
                    "type": "hello", "widget": args["widget"], "token": pattern.format(n=i),
                    "conversation": None, "after": 0}))
            await self.wait_for(lambda upto=wave[-1] + 1: len(self.welcomes) >= upto, 120,
                                "hellos")
        hellos_at = time.perf_counter()
        self.conversation_ids = []
        for i in range(self.conversations):
            conversation = self.welcomes[i].get("conversation")
            if conversation is None:
                raise RuntimeError(f"visitor {i} has no conversation: run bench.e2e_setup")
            self.conversation_ids.append(int(conversation["id"]))
            if self.follow:
                operator = self.operators[i % len(self.operators)]
                operator.send(json.dumps({
                    "type": "subscribe", "ref": i, "conversation": conversation["id"],
                    "after": conversation["last_seq"]}))
        if self.follow:
            await self.wait_for(lambda: sum(c["subscribed"] for c in self.operator_frames)
                                >= self.conversations, 120, "subscriptions")
        subscribed_at = time.perf_counter()
        warm = min(self.conversations, int(args.get("warmup", 50)))
        first = len(self.tracker.planned)
        now = time.perf_counter()
        for i in range(warm):
            self.send(i, now)
        await self.wait_for(lambda: self.tracker.settled(first, first + warm), 60, "warm-up")
        return {"visitors": self.conversations, "operators": len(self.operators),
                "operators_seconds": round(operators_at - started, 2),
                "hellos_per_second": round(self.conversations / (hellos_at - operators_at), 1),
                "subscribe_seconds": round(subscribed_at - hellos_at, 2),
                "warmup_seconds": round(time.perf_counter() - subscribed_at, 2)}

    # --- load ---
    def send(self, conversation_index: int, planned: float) -> None:
        n = self.tracker.new(planned)
        self.widgets[conversation_index].send(
            f'{{"type":"message","ref":{n},"client_id":"{self.prefix}-{n}",'
            f'"body":"#{n} {BODY_TEXT}"}}')
        self.tracker.sent_at[n] = time.perf_counter()

    async def quiet(self, within: float = 15) -> None:
        """Wait until every earlier message is settled, or nothing has come back for half a
        second (a broken step's backlog drained; a lost message never comes back)."""
        tracker = self.tracker
        deadline = time.perf_counter() + within
        cursor, last = 0, len(tracker.planned)
        seen, still_since = tracker.progress(), time.perf_counter()
        while time.perf_counter() < deadline:
            while cursor < last and tracker.is_settled(cursor):
                cursor += 1
            if cursor >= last:
                return
            now = time.perf_counter()
            if tracker.progress() != seen:
                seen, still_since = tracker.progress(), now
            elif now - still_since > 0.5:
                return
            await asyncio.sleep(0.05)

    async def step(self, rate: float, seconds: float, drain: float) -> dict[str, Any]:
        await self.quiet()
        await asyncio.sleep(0.2)
        tracker = self.tracker
        total = max(1, round(rate * seconds))
        first = len(tracker.planned)
        acks_before, failed_before = tracker.acks, len(tracker.failed)
        backlog_limit = max(rate * 1.0, 20)
        t0 = time.perf_counter() + 0.01
        sent = 0
        stopped_early = False
        spread = self.conversations
        while sent < total:
            now = time.perf_counter()
            while sent < total and t0 + sent / rate <= now:
                self.send(sent % spread, t0 + sent / rate)
                sent += 1
            answered = tracker.acks - acks_before + len(tracker.failed) - failed_before
            if sent - answered > backlog_limit:
                stopped_early = True
                break
            if sent < total:
                await asyncio.sleep(max(0.0, t0 + sent / rate - time.perf_counter()))
        last_send = time.perf_counter()
        deadline = last_send + drain
        end, cursor = first + sent, first
        while time.perf_counter() < deadline:
            while cursor < end and tracker.is_settled(cursor):
                cursor += 1
            if cursor >= end:
                break
            await asyncio.sleep(0.005)
        acks = [tracker.acked[n] - tracker.planned[n] for n in range(first, end)
                if tracker.acked[n]]
        delivered = [tracker.done[n] - tracker.planned[n] for n in range(first, end)
                     if tracker.done[n]]
        late = [tracker.sent_at[n] - tracker.planned[n] for n in range(first, end)]
        last_done = max((tracker.done[n] for n in range(first, end)), default=t0)
        failed = sum(1 for n in tracker.failed if first <= n < end)
        ms = 1000.0
        return {
            "offered": rate, "seconds": seconds, "sent": sent, "stopped_early": stopped_early,
            "sent_seconds": round(last_send - t0, 3),
            "achieved": round(len(delivered) / max(last_done - t0, 1e-9), 1),
            "acked": len(acks), "delivered": len(delivered),
            "lost": sent - len(delivered), "failed": failed, "errors": dict(tracker.errors),
            "ack_p50_ms": percentile(acks, 50) * ms, "ack_p99_ms": percentile(acks, 99) * ms,
            "delivery_p50_ms": percentile(delivered, 50) * ms,
            "delivery_p99_ms": percentile(delivered, 99) * ms,
            "delivery_p999_ms": percentile(delivered, 99.9) * ms,
            "delivery_max_ms": max(delivered, default=float("nan")) * ms,
            "send_late_p99_ms": percentile(late, 99) * ms,
        }


def broken(result: dict[str, Any], p99_limit_ms: float, min_achieved: float) -> bool:
    """A step breaks when its delivery p99 is over the limit, it achieved under min_achieved
    of the offered rate, or a message was not acknowledged and delivered in time."""
    p99 = result["delivery_p99_ms"]
    return (result["lost"] > 0 or result["stopped_early"] or p99 != p99 or p99 > p99_limit_ms
            or result["achieved"] < min_achieved * result["offered"])


async def main(args: dict[str, Any]) -> None:
    from bench.common import raise_file_limit

    raise_file_limit()
    load = Load(args)
    ready = await load.setup()
    seconds, drain = float(args.get("seconds", 5)), float(args.get("drain", 5))
    if "rates" in args:
        print("READY " + json.dumps(ready), flush=True)
        for rate in args["rates"]:
            result = await load.step(float(rate), seconds, drain)
            print(json.dumps(result), flush=True)
            if broken(result, float(args.get("p99_limit_ms", 100)),
                      float(args.get("min_achieved", 0.9))):
                break
        return
    print("READY " + json.dumps(ready), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line.strip():
            return
        command = json.loads(line)
        result = await load.step(float(command["rate"]), float(command.get("seconds", seconds)),
                                 float(command.get("drain", drain)))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    import uvloop

    uvloop.install()
    asyncio.run(main(json.loads(sys.argv[1])))
