"""Bursts of new conversations and an operator's reconnect (issue 15, point 12), and a soak.

`burst(quick)` returns rows for bench/run.py's table (`python -m bench.run --only burst`;
alone: `python -m bench.burst [--quick]`). For each configuration (PostgreSQL; one process,
or two joined by Redis with the visitors on process A and the operators on B; 200 and 1 000
visitors):

1. a fresh database `p2s_burst_bench` (E2E_POSTGRES_URL) prepared by bench/e2e_setup.py with
   the visitors but no conversation (`"conversations": false`) and 3 online operators;
2. the product (bench/e2e_serve.py with `burst`: the per-address spam rule raised, since
   every visitor of the load generator comes from 127.0.0.1) pinned to the server core;
3. bench/burst_load.py on the other core: every visitor says hello (not measured), then
   all send their first message in the same instant. Rows: ack p50 / p99 / max from that
   instant, and when the new conversation was in all 3 operators' inboxes.
4. at 200 visitors, the reconnect: each conversation gets 5 more messages (the history a
   catch-up replays), then operator 0 reconnects, subscribes to all 200 with `after` 0 and
   sends 20 replies over the next 2 s; the row is the replies' ack p99.

`soak(minutes)` (`python -m bench.burst --soak-minutes 5`): one process on PostgreSQL, 200
conversations with 3 operators following them, 100 messages/s offered in 10 s steps (bench/
e2e_load.py) with the 200 widget sockets and the operators' sockets all closed and opened
again every minute; every step it samples the server's RSS, open descriptors, threads and
PostgreSQL connections, and reports their slopes over the second half of the run (the first
half is warm-up: caches, pools and the allocator's arenas filling).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import LOAD_CORE, PYTHON, ROOT, free_port, pinned, product_env, rss_bytes, server
from bench.e2e import LoadProcess, pg_backends, pg_server, postgres_admin, unavailable

PG_DB = "p2s_burst_bench"
OPERATORS = 3
TARGET = "ack p99 ≤ 250 ms"
RECONNECT_TARGET = "reply ack p99 ≤ 250 ms"


class BurstProcess:
    """bench/burst_load.py, one command at a time."""

    def __init__(self, args: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 (our own module, our arguments)
            pinned([PYTHON, "-m", "bench.burst_load", json.dumps(args)], LOAD_CORE),
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")

    def line(self, timeout: float) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError("the burst load generator did not answer") from None
        if not line:
            raise RuntimeError(f"the burst load generator exited ({self.proc.wait()})")
        return line

    def ready(self) -> dict[str, Any]:
        line = self.line(timeout=300)
        if not line.startswith("READY "):
            raise RuntimeError(f"unexpected from the burst load generator: {line!r}")
        return json.loads(line.split(" ", 1)[1])  # type: ignore[no-any-return]

    def do(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.line(timeout=300))  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def fresh_database(var_dirs: list[str], visitors: int, conversations: bool
                   ) -> tuple[dict[str, Any], dict[str, str]]:
    postgres_admin(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
    postgres_admin(f"CREATE DATABASE {PG_DB}")
    var_dirs.append(tempfile.mkdtemp(prefix="p2s-bench-burst-"))
    env = product_env(var_dirs[-1], DATABASE_URL=f"{pg_server()}/{PG_DB}")
    out = subprocess.run(  # noqa: S603 (our own module, our arguments)
        [PYTHON, "-m", "bench.e2e_setup", json.dumps(
            {"visitors": visitors, "operators": OPERATORS, "conversations": conversations})],
        cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True, text=True,
        timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1]), env


def servers(stack: ExitStack, processes: int, env: dict[str, str], redis_url: str
            ) -> tuple[list[int], list[Any]]:
    ports = [free_port() for _ in range(processes)]
    procs = []
    for port in ports:
        server_env = {**env, "REDIS_URL": redis_url} if processes > 1 else env
        args: dict[str, Any] = {"port": port, "burst": True}
        if os.environ.get("E2E_PROFILE"):
            args["profile"] = f"{os.environ['E2E_PROFILE']}.{port}"
        procs.append(stack.enter_context(server(
            [PYTHON, "-m", "bench.e2e_serve", json.dumps(args)], server_env,
            f"http://127.0.0.1:{port}/health")))
    return ports, procs


def burst_once(processes: int, visitors: int, reconnect: bool, redis_url: str
               ) -> dict[str, Any]:
    var_dirs: list[str] = []
    try:
        setup, env = fresh_database(var_dirs, visitors, conversations=False)
        with ExitStack() as stack:
            ports, _ = servers(stack, processes, env, redis_url)
            load = BurstProcess({
                "widget_port": ports[0], "operator_port": ports[-1], "widget": setup["widget"],
                "token_pattern": setup["token_pattern"], "visitors": visitors,
                "sessions": setup["sessions"], "cookie": setup["cookie"]})
            try:
                load.ready()
                result: dict[str, Any] = {"load": load_average(),
                                          "burst": load.do(do="burst")}
                if reconnect:
                    result["history"] = load.do(do="history", messages=5, rate=500)
                    result["reconnect"] = load.do(do="reconnect", replies=20, seconds=2)
            finally:
                load.close()
        return result
    finally:
        for var_dir in var_dirs:
            shutil.rmtree(var_dir, ignore_errors=True)


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split(" ", 1)[0])


def configs(quick: bool) -> list[tuple[int, int]]:
    """(processes, visitors)"""
    if quick:
        return [(1, 200)]
    return [(1, 200), (1, 1000), (2, 200), (2, 1000)]


def burst(runs: int, quick: bool) -> list[dict[str, Any]]:
    """`runs` fresh runs of each configuration; each figure their median (min–max)."""
    from bench.e2e import fmt, fmt_ms

    redis_url = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/5")
    rows: list[dict[str, Any]] = []
    try:
        for processes, visitors in configs(quick):
            procs = "one process" if processes == 1 else "two processes joined by Redis"
            scenario = (f"Burst of first messages (PostgreSQL, {procs}, {visitors:,} visitors"
                        + (", 1 run)" if runs == 1 else ")"))
            why = unavailable_for(processes, redis_url)
            if why:
                rows.append({"scenario": scenario, "measure": "not run",
                             "value": f"skipped: {why}", "target": ""})
                continue
            results = [burst_once(processes, visitors, reconnect=visitors == 200,
                                  redis_url=redis_url) for _ in range(runs)]
            bursts = [r["burst"] for r in results]
            value = (f"ack p99 {fmt_ms([b['ack']['p99_ms'] for b in bursts])}, p50 "
                     f"{fmt_ms([b['ack']['p50_ms'] for b in bursts])}, max "
                     f"{fmt_ms([b['ack']['max_ms'] for b in bursts])}; in all "
                     f"{bursts[0]['operators']} inboxes p99 "
                     f"{fmt_ms([b['inbox']['p99_ms'] for b in bursts])}; "
                     f"{min(b['acked'] for b in bursts):,} acked, "
                     f"{min(b['conversations'] for b in bursts):,} conversations; load "
                     f"average at the start {fmt([r['load'] for r in results], '{:.2f}')}")
            wrong = [b for b in bursts if b["duplicates"] or b["extra_acks"] or b["errors"]
                     or b["acked"] != visitors or b["conversations"] != visitors]
            for b in wrong[:1]:
                value += (f"; WRONG in {len(wrong)} run(s): {b['acked']} acked, "
                          f"{b['duplicates']} duplicates, {b['extra_acks']} extra acks, "
                          f"errors {b['errors']}")
            rows.append({"scenario": scenario, "measure": "all first messages at once",
                         "value": value,
                         "target": TARGET if processes == 1 and visitors == 200 else ""})
            if "reconnect" in results[0]:
                again = [r["reconnect"] for r in results]
                rows.append({
                    "scenario": scenario,
                    "measure": "operator reconnects following all 200 (5 messages each): "
                               "20 replies in the next 2 s",
                    "value": f"reply ack p99 {fmt_ms([r['reply']['p99_ms'] for r in again])}, "
                             f"p50 {fmt_ms([r['reply']['p50_ms'] for r in again])}; all "
                             f"subscribed in {fmt([r['subscribed_s'] for r in again], '{:.2f}')}"
                             f" s, all caught up in "
                             f"{fmt([r['caught_up_s'] for r in again], '{:.2f}')} s "
                             f"({again[0]['replayed']:,} events)",
                    "target": RECONNECT_TARGET if processes == 1 else ""})
    finally:
        try:
            postgres_admin(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        except Exception as error:  # noqa: BLE001 (cleanup must not hide the result)
            print(f"could not drop {PG_DB}: {error}")
    return rows


def unavailable_for(processes: int, redis_url: str) -> str:
    from bench.e2e import Config

    return unavailable(Config("postgresql", processes, 0, 1), redis_url)


# --- soak -----------------------------------------------------------------------------------

def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value), per minute."""
    if len(points) < 2:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in points) / var * 60 if var else 0.0


def soak(minutes: float, rate: float = 100) -> list[dict[str, Any]]:
    why = unavailable_for(1, "")
    scenario = f"Soak (PostgreSQL, one process, 200 conversations, {minutes:g} min)"
    if why:
        return [{"scenario": scenario, "measure": "not run", "value": f"skipped: {why}",
                 "target": ""}]
    var_dirs: list[str] = []
    samples: list[dict[str, float]] = []
    step_seconds = 10.0
    try:
        setup, env = fresh_database(var_dirs, 200, conversations=True)
        with ExitStack() as stack:
            _, procs = servers(stack, 1, env, "")
            pid = procs[0].pid
            started = time.monotonic()
            deadline = started + minutes * 60
            while time.monotonic() < deadline:
                # A new load process a minute: every socket closes and opens again (the
                # reconnects a real day has), each minute of steady traffic in between.
                load = LoadProcess({
                    "widget_port": _port_of(procs[0]),
                    "operator_port": _port_of(procs[0]), "widget": setup["widget"],
                    "token_pattern": setup["token_pattern"], "conversations": 200,
                    "sessions": setup["sessions"], "cookie": setup["cookie"],
                    "follow": True, "warmup": 0})
                try:
                    load.ready()
                    for _ in range(6):
                        if time.monotonic() >= deadline:
                            break
                        result = load.step(rate, step_seconds)
                        samples.append({
                            "t": time.monotonic() - started, "rss": rss_bytes(pid) / 2**20,
                            "fds": descriptors(pid), "threads": threads(pid),
                            "pg": len(pg_backends(PG_DB)), "lost": result["lost"],
                            "p99": result["delivery_p99_ms"]})
                finally:
                    load.close()
    finally:
        for var_dir in var_dirs:
            shutil.rmtree(var_dir, ignore_errors=True)
        try:
            postgres_admin(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        except Exception as error:  # noqa: BLE001
            print(f"could not drop {PG_DB}: {error}")
    half = [s for s in samples if s["t"] >= samples[-1]["t"] / 2]
    value = "; ".join(
        f"{label} {samples[0][key]:,.1f} → {samples[-1][key]:,.1f}, second half "
        f"{slope_per_minute([(s['t'], s[key]) for s in half]):+.2f}{unit}/min"
        for label, key, unit in (("RSS MiB", "rss", " MiB"), ("descriptors", "fds", ""),
                                 ("threads", "threads", ""), ("PostgreSQL connections", "pg", "")))
    lost = sum(int(s["lost"]) for s in samples)
    value += (f"; {len(samples)} steps of {step_seconds:.0f} s at {rate:.0f} msg/s, sockets "
              f"reopened every minute, {lost} lost; delivery p99 median "
              f"{statistics.median(s['p99'] for s in samples):.1f} ms")
    return [{"scenario": scenario, "measure": "memory, descriptors, threads, connections: "
             "first → last, slope over the second half", "value": value,
             "target": "flat"}]


def _port_of(proc: Any) -> int:
    return int(json.loads(proc.args[-1])["port"])


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--soak-minutes", type=float, default=0,
                        help="run the soak (this long) instead of the bursts")
    options = parser.parse_args()
    started = time.monotonic()
    rows = (soak(options.soak_minutes) if options.soak_minutes
            else burst(options.runs, options.quick))
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    print(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
