"""Burst load (issue 15, point 12): many visitors send their first message at the same
moment; then an operator socket reconnects while following every conversation. Argument:
JSON {"widget_port", "operator_port", "widget", "token_pattern", "visitors", "sessions",
"cookie"}. Driven over stdin/stdout like bench/e2e_load.py: prints `READY {...}` once the
sockets are open, then runs one command per JSON line read and prints one JSON line each:

- {"do": "burst"}: every visitor socket sends its first message in the same event-loop turn
  (one write each, back to back: a few milliseconds for 1 000). Latencies run from the
  moment the last of them was written (t0): `ack` when the visitor's socket has its ack,
  `inbox` when every operator socket has the `conversation` frame carrying it. Every
  message must be acknowledged once, and no visitor may be told `duplicate`.
- {"do": "history", "messages": m, "rate": r}: m more messages per conversation at r
  messages/s overall, all acknowledged before it answers (what a reconnect replays).
- {"do": "reconnect", "replies": n, "seconds": s}: operator 0 closes its socket, opens a
  new one, waits for its welcome and subscribes to every conversation with `after` 0 (a
  console following them all, catching up), the subscribes written in one go right after
  the welcome; then, from the same moment, it sends n replies spread evenly over s seconds,
  each to another conversation. Reply latency runs from each reply's own send to its ack.
  Also reported: when the last `subscribed` arrived, when every conversation had been
  caught up (its events up to the last seq acknowledged to its visitor before the
  reconnect), and when the last event arrived (the replies' own events included).

Frames are built and parsed by hand (bench/e2e_load.py's Conn).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from typing import Any

from bench.common import percentile
from bench.e2e_load import Conn, connect

ACK_REF = re.compile(rb'"type":"ack","ref":(\d+)')
DUPLICATE = re.compile(rb'"duplicate":true')
PREVIEW = re.compile(rb'"preview":"#(\d+) first')
SUBSCRIBED = re.compile(rb'^\{"type":"subscribed","ref":(\d+)')
EVENT = re.compile(rb'^\{"type":"event"')
ERROR = re.compile(rb'^\{"type":"error"')
WELCOME = re.compile(rb'^\{"type":"welcome"')


def ms_stats(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(values, 50) * 1000, 1),
            "p99_ms": round(percentile(values, 99) * 1000, 1),
            "max_ms": round(max(values) * 1000, 1) if values else float("nan")}


class Burst:
    def __init__(self, args: dict[str, Any]) -> None:
        self.args = args
        self.visitors = int(args["visitors"])
        self.sessions: list[str] = list(args["sessions"])
        self.widgets: list[Conn] = []
        self.welcomes: dict[int, dict[str, Any]] = {}
        self.operators: list[Conn | None] = []
        self.acks: dict[int, float] = {}
        self.duplicates = 0
        self.errors: list[bytes] = []
        self.inbox_seen: list[dict[int, float]] = []
        self.conversation_of: dict[int, int] = {}
        self.pending_acks = 0
        # the reconnecting operator's socket
        self.reply_acks: dict[int, float] = {}
        self.subscribed: dict[int, float] = {}
        self.replayed = 0
        self.last_event = 0.0
        self.last_seq: dict[int, int] = {}  # per conversation, from the visitors' acks
        self.behind: set[int] = set()  # conversations whose catch-up is not complete yet
        self.caught_up = 0.0
        self.welcomed = asyncio.Event()

    def widget_text(self, index: int) -> Any:
        def on_text(data: bytes) -> None:
            if index not in self.welcomes:
                self.welcomes[index] = json.loads(data)
                return
            match = ACK_REF.search(data)
            if match:
                ack = json.loads(data)
                if index not in self.acks:
                    self.acks[index] = time.perf_counter()
                    self.conversation_of[index] = ack["conversation"]
                self.last_seq[ack["conversation"]] = max(
                    ack["seq"], self.last_seq.get(ack["conversation"], 0))
                self.pending_acks -= 1
                if DUPLICATE.search(data):
                    self.duplicates += 1
            elif ERROR.search(data):
                self.errors.append(data[:200])
        return on_text

    def operator_text(self, k: int) -> Any:
        seen = self.inbox_seen[k]

        def on_text(data: bytes) -> None:
            match = PREVIEW.search(data)
            if match and data.startswith(b'{"type":"conversation"'):
                seen.setdefault(int(match.group(1)), time.perf_counter())
        return on_text

    def reconnected_text(self, data: bytes) -> None:
        now = time.perf_counter()
        if WELCOME.match(data):
            self.welcomed.set()
        elif EVENT.match(data):
            self.replayed += 1
            self.last_event = now
            if self.behind:
                event = json.loads(data)
                if event["seq"] >= self.last_seq.get(event["conversation"], 0):
                    self.behind.discard(event["conversation"])
                    if not self.behind:
                        self.caught_up = now
        elif (match := SUBSCRIBED.match(data)) is not None:
            self.subscribed[int(match.group(1))] = now
        elif (match := ACK_REF.search(data)) is not None:
            self.reply_acks.setdefault(int(match.group(1)), now)
        elif ERROR.match(data):
            self.errors.append(data[:200])

    async def wait_for(self, condition: Any, within: float, what: str) -> None:
        deadline = time.perf_counter() + within
        while not condition():
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{what}: timed out")
            await asyncio.sleep(0.005)

    async def operator(self, k: int, on_text: Any) -> Conn:
        cookie = str(self.args.get("cookie", "sessionid"))
        return await connect(int(self.args["operator_port"]), "/ws/operator", on_text,
                             f"Cookie: {cookie}={self.sessions[k]}\r\n")

    async def setup(self) -> dict[str, Any]:
        for k in range(len(self.sessions)):
            self.inbox_seen.append({})
            self.operators.append(await self.operator(k, self.operator_text(k)))
        pattern = str(self.args.get("token_pattern", "bench-e2e-{n}"))
        started = time.perf_counter()
        batch = 100
        for first in range(0, self.visitors, batch):
            wave = range(first, min(self.visitors, first + batch))
            self.widgets += await asyncio.gather(*(
                connect(int(self.args["widget_port"]), "/ws/widget", self.widget_text(i))
                for i in wave))
            for i in wave:
                self.widgets[i].send(json.dumps({
                    "type": "hello", "widget": self.args["widget"],
                    "token": pattern.format(n=i)}))
            await self.wait_for(lambda upto=wave[-1] + 1: len(self.welcomes) >= upto, 120,
                                "hellos")
        started_with = sum(1 for w in self.welcomes.values() if w.get("conversation"))
        if started_with:
            raise RuntimeError(f"{started_with} visitors already have a conversation")
        return {"visitors": self.visitors, "hello_seconds": round(time.perf_counter() - started, 2)}

    async def burst(self) -> dict[str, Any]:
        frames = [json.dumps({"type": "message", "ref": i, "client_id": f"first-{i}",
                              "body": f"#{i} first message: my order has not arrived"})
                  for i in range(self.visitors)]
        self.pending_acks += self.visitors
        for i, text in enumerate(frames):
            self.widgets[i].send(text)
        t0 = time.perf_counter()
        operators = len(self.operators)
        await self.wait_for(
            lambda: (len(self.acks) >= self.visitors and all(
                len(seen) >= self.visitors for seen in self.inbox_seen)) or self.errors,
            120, "the burst's acks and inbox updates")
        await asyncio.sleep(0.2)  # a duplicate ack would come now
        acks = [self.acks[i] - t0 for i in range(self.visitors) if i in self.acks]
        everywhere = [max(seen[i] for seen in self.inbox_seen) - t0
                      for i in range(self.visitors) if all(i in s for s in self.inbox_seen)]
        return {"acked": len(acks), "ack": ms_stats(acks), "inbox": ms_stats(everywhere),
                "operators": operators, "conversations": len(set(self.conversation_of.values())),
                "extra_acks": -self.pending_acks, "duplicates": self.duplicates,
                "errors": [e.decode(errors="replace") for e in self.errors[:3]]}

    async def history(self, messages: int, rate: float) -> dict[str, Any]:
        started = time.perf_counter()
        sent = 0
        for m in range(messages):
            for i in range(self.visitors):
                self.pending_acks += 1
                self.widgets[i].send(json.dumps({
                    "type": "message", "ref": 10**6 + sent, "client_id": f"h{m}-{i}",
                    "body": f"history {m}: still waiting for my order, any news?"}))
                sent += 1
                due = started + sent / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
        await self.wait_for(lambda: self.pending_acks <= 0 or self.errors, 120, "history acks")
        return {"sent": sent, "seconds": round(time.perf_counter() - started, 2),
                "errors": [e.decode(errors="replace") for e in self.errors[:3]]}

    async def reconnect(self, replies: int, seconds: float) -> dict[str, Any]:
        old = self.operators[0]
        assert old is not None and old.transport is not None
        old.transport.close()
        self.subscribed.clear()
        self.reply_acks.clear()
        self.replayed = 0
        self.welcomed.clear()
        conversations = [self.conversation_of[i] for i in range(self.visitors)]
        self.behind = set(conversations)
        self.caught_up = 0.0
        conn = await self.operator(0, self.reconnected_text)
        await asyncio.wait_for(self.welcomed.wait(), 30)
        t0 = time.perf_counter()
        for n, conversation in enumerate(conversations):
            conn.send(json.dumps({"type": "subscribe", "ref": n, "conversation": conversation,
                                  "after": 0}))
        sent_at: dict[int, float] = {}
        for r in range(replies):
            due = t0 + r * seconds / replies
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            ref = 10**7 + r
            sent_at[ref] = time.perf_counter()
            conn.send(json.dumps({"type": "message", "ref": ref, "client_id": f"reply-{r}-{t0}",
                                  "conversation": conversations[r % len(conversations)],
                                  "body": "Thanks, I am looking into it now."}))
        await self.wait_for(lambda: len(self.reply_acks) >= replies and not self.behind
                            and len(self.subscribed) >= len(conversations) or self.errors,
                            120, "replies, subscribes and the catch-up")
        await asyncio.sleep(1.0)  # let the replay finish streaming
        self.operators[0] = conn
        latencies = [self.reply_acks[ref] - sent_at[ref] for ref in sent_at
                     if ref in self.reply_acks]
        return {"reply": ms_stats(latencies), "replies": len(latencies),
                "subscribed_s": round(max(self.subscribed.values()) - t0, 2),
                "replay_done_s": round(self.last_event - t0, 2), "replayed": self.replayed,
                "caught_up_s": round(self.caught_up - t0, 2),
                "errors": [e.decode(errors="replace") for e in self.errors[:3]]}


async def main(args: dict[str, Any]) -> None:
    load = Burst(args)
    ready = await load.setup()
    print("READY " + json.dumps(ready), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        command = json.loads(line)
        if command["do"] == "burst":
            result = await load.burst()
        elif command["do"] == "history":
            result = await load.history(int(command["messages"]), float(command["rate"]))
        else:
            result = await load.reconnect(int(command["replies"]), float(command["seconds"]))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(json.loads(sys.argv[1])))
