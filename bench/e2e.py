"""End to end (issue 5): a visitor message through the widget socket, stored in the
database, delivered to the operators' sockets, at fixed offered rates until p99 breaks.

`end_to_end(runs, quick)` returns rows for bench/run.py's table. For each configuration:

1. a database prepared by bench/e2e_setup.py (one company, one widget, the visitors with a
   conversation each, 3 operators with a login session each). PostgreSQL: a database
   `p2s_bench_e2e` (dropped and created again, shared by the PostgreSQL configurations,
   dropped at the end) at E2E_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432);
   SQLite: a file in a temporary directory.
2. the product under uvicorn (bench/e2e_serve.py: bench/serve.py with the visitors' message
   rate limit raised), pinned to the server core. In the two-process configuration both
   processes run the product with REDIS_URL (E2E_REDIS_URL, default
   redis://127.0.0.1:6379/5); the visitors talk to process A and the operators to process
   B, so every delivery crosses Redis. Both processes are pinned to the server core: on 2
   cores the alternative (B on the load generator's core) would make the load generator
   compete with the product and bend the latencies it measures; this way the product gets
   the same one core as in the one-process configuration, and the figure shows what the
   Redis hop and a second process cost on it. PostgreSQL and Redis are not pinned (the
   kernel places them; on this machine they share both cores with everything else).
3. bench/e2e_load.py on the other core: connects (not measured), then runs one step per
   offered rate, open loop (latency from the planned send time), and reports ack and
   delivery latencies per step.

The ladder is RATES; a step *breaks* when its delivery p99 is over P99_LIMIT_MS, it achieved
under MIN_ACHIEVED of the offered rate, or a message was not acknowledged and delivered
within DRAIN seconds of the step's end. Escalation stops at the first broken step, after one
overloaded step at TARGET_RATE (the target's rate) if the break came below it: that gives the
target's row, and the throughput at saturation when the first break was one of latency
only. The saturation row gives the highest offered rate held, and the highest rate achieved
at a step where the server could not keep up (it fell a second behind, or achieved under
MIN_ACHIEVED of the offered rate): the throughput at saturation. Server CPU per
message is the product's CPU time (all its processes, from /proc) over a step, divided by
the messages delivered; "+ PostgreSQL" adds the CPU time of the database backends serving
the product's connections (pg_stat_activity).

No background worker is started: storing and delivering a visitor message enqueues no task
(tasks are only e-mails, which a visitor's chat message in a conversation without
"reply by e-mail" does not send). The presence heartbeat runs in the web process itself.

Each run is one pass up the ladder; the figures are medians over the runs that reached the
step. Only the PostgreSQL one-process 200-conversation configuration runs `runs` times; the
others run once (the 10-minute budget of the whole suite), which their label says.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    LOAD_CORE,
    PYTHON,
    ROOT,
    cpu_seconds,
    free_port,
    pinned,
    product_env,
    server,
)

RATES = [50, 100, 200, 500, 1000, 2000]
QUICK_RATES = [50, 100, 200, 500]
TARGET_RATE = 500
TARGET = "p99 ≤ 15 ms"
P99_LIMIT_MS = 100.0
MIN_ACHIEVED = 0.9
DRAIN = 5.0
OPERATORS = 3
PG_DB = "p2s_bench_e2e"


@dataclass(frozen=True)
class Config:
    database: str  # "postgresql" or "sqlite"
    processes: int
    conversations: int
    runs: int

    def label(self, quick: bool) -> str:
        db = "PostgreSQL" if self.database == "postgresql" else "SQLite"
        procs = "one process" if self.processes == 1 else "two processes joined by Redis"
        once = ", 1 run" if self.runs == 1 and not quick else ""
        return f"End to end ({db}, {procs}, {self.conversations:,} conversations{once})"

    @property
    def targeted(self) -> bool:
        return self.database == "postgresql" and self.processes == 1


def configs(runs: int, quick: bool) -> list[Config]:
    if quick:
        return [Config("postgresql", 1, 200, 1)]
    return [
        Config("postgresql", 1, 200, runs),
        Config("postgresql", 1, 1000, 1),
        Config("postgresql", 2, 200, 1),
        Config("sqlite", 1, 200, 1),
    ]


# --- processes ------------------------------------------------------------------------------

def postgres_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{pg_server()}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def pg_server() -> str:
    return os.environ.get("E2E_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")


def pg_backends(database: str) -> list[int]:
    import psycopg

    with psycopg.connect(f"{pg_server()}/postgres", autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s "
                            "AND pid <> pg_backend_pid()", (database,)).fetchall()
    return [int(row[0]) for row in rows]


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def prepare(env: dict[str, str], visitors: int) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603 (our own module, our arguments)
        [PYTHON, "-m", "bench.e2e_setup", json.dumps({"visitors": visitors,
                                                      "operators": OPERATORS})],
        cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True, text=True,
        timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


class LoadProcess:
    """bench/e2e_load.py, driven one step at a time over its stdin and stdout."""

    def __init__(self, args: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 (our own module, our arguments)
            pinned([PYTHON, "-m", "bench.e2e_load", json.dumps(args)], LOAD_CORE),
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
            raise RuntimeError("the end-to-end load generator did not answer") from None
        if not line:
            raise RuntimeError(f"the end-to-end load generator exited ({self.proc.wait()})")
        return line

    def ready(self) -> dict[str, Any]:
        line = self.line(timeout=300)
        if not line.startswith("READY "):
            raise RuntimeError(f"unexpected from the load generator: {line!r}")
        return json.loads(line.split(" ", 1)[1])  # type: ignore[no-any-return]

    def step(self, rate: float, seconds: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"rate": rate, "seconds": seconds, "drain": DRAIN})
                              + "\n")
        self.proc.stdin.flush()
        return json.loads(self.line(timeout=seconds + DRAIN + 60))  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def is_broken(result: dict[str, Any]) -> bool:
    p99 = result["delivery_p99_ms"]
    return bool(result["lost"] or result["stopped_early"] or p99 != p99 or p99 > P99_LIMIT_MS
                or result["achieved"] < MIN_ACHIEVED * result["offered"])


def throughput_bound(result: dict[str, Any]) -> bool:
    """The server could not keep up (not only a latency break): `achieved` is its rate."""
    return bool(result["stopped_early"] or result["achieved"] < MIN_ACHIEVED * result["offered"])


def ladder(load: LoadProcess, config: Config, rates: list[int], seconds: float,
           server_pids: list[int], pg_db: str | None) -> list[dict[str, Any]]:
    """One pass up the ladder; each result gains server CPU per message and `broken`."""
    results: list[dict[str, Any]] = []
    pending = list(rates)
    while pending:
        rate = pending.pop(0)
        backends = pg_backends(pg_db) if pg_db else []
        cpu0, pg0 = cpu_of(server_pids), cpu_of(backends)
        result = load.step(rate, seconds)
        cpu1, pg1 = cpu_of(server_pids), cpu_of(backends)
        delivered = max(result["delivered"], 1)
        result["server_cpu_ms"] = (cpu1 - cpu0) / delivered * 1000
        result["db_cpu_ms"] = (pg1 - pg0) / delivered * 1000 if pg_db else 0.0
        result["broken"] = is_broken(result)
        results.append(result)
        if result["broken"]:
            # One overloaded step at the target's rate: the target's row, and the
            # throughput at saturation where the break was one of latency only.
            pending = [TARGET_RATE] if rate < TARGET_RATE else []
    return results


def run_config(config: Config, quick: bool, setup: dict[str, Any], env: dict[str, str],
               redis_url: str) -> list[list[dict[str, Any]]]:
    rates = QUICK_RATES if quick else RATES
    seconds = 2.0 if quick else 3.0
    passes: list[list[dict[str, Any]]] = []
    with ExitStack() as stack:
        ports = [free_port() for _ in range(config.processes)]
        procs = []
        for port in ports:
            server_env = {**env, "REDIS_URL": redis_url} if config.processes > 1 else env
            procs.append(stack.enter_context(server(
                [PYTHON, "-m", "bench.e2e_serve", json.dumps(
                    # E2E_PROFILE=/path: cProfile of each server's threads (bench/e2e_serve.py)
                    {"port": port, **({"profile": f"{os.environ['E2E_PROFILE']}.{port}"}
                                      if os.environ.get("E2E_PROFILE") else {})})], server_env,
                f"http://127.0.0.1:{port}/health")))
        load = LoadProcess({
            "widget_port": ports[0], "operator_port": ports[-1], "widget": setup["widget"],
            "token_pattern": setup["token_pattern"], "conversations": config.conversations,
            "sessions": setup["sessions"], "cookie": setup["cookie"], "follow": True,
            "warmup": 50})
        try:
            load.ready()
            pg_db = PG_DB if config.database == "postgresql" else None
            for _ in range(config.runs):
                passes.append(ladder(load, config, rates, seconds,
                                     [p.pid for p in procs], pg_db))
        finally:
            load.close()
    return passes


# --- rows -----------------------------------------------------------------------------------

def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(values: list[float], pattern: str) -> str:
    s = stats(values)
    if s["min"] == s["max"]:
        return pattern.format(s["median"])
    return (f"{pattern.format(s['median'])} "
            f"({pattern.format(s['min'])}–{pattern.format(s['max'])})")


def ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def fmt_ms(values: list[float]) -> str:
    s = stats(values)
    if s["min"] == s["max"]:
        return f"{ms(s['median'])} ms"
    return f"{ms(s['median'])} ms ({ms(s['min'])}–{ms(s['max'])})"


def rows_for(config: Config, quick: bool,
             passes: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    scenario = config.label(quick)
    rows: list[dict[str, Any]] = []
    by_rate: dict[float, list[dict[str, Any]]] = {}
    for results in passes:
        for result in results:
            by_rate.setdefault(result["offered"], []).append(result)
    for rate in sorted(by_rate):
        results = by_rate[rate]
        value = (f"{fmt_ms([r['delivery_p50_ms'] for r in results])} / "
                 f"{fmt_ms([r['delivery_p99_ms'] for r in results])}; "
                 f"p99.9 {fmt_ms([r['delivery_p999_ms'] for r in results])}; "
                 f"ack p99 {fmt_ms([r['ack_p99_ms'] for r in results])}; "
                 f"achieved {fmt([r['achieved'] for r in results], '{:,.0f}')}/s")
        lost = [r["lost"] for r in results]
        if any(lost):
            value += f"; {fmt(lost, '{:,.0f}')} not delivered within {DRAIN:.0f} s"
        early = [r for r in results if r["stopped_early"]]
        if early:
            value += (f"; stopped after {fmt([r['sent_seconds'] for r in early], '{:.1f}')} s"
                      " (over 1 s behind)")
        rows.append({"scenario": scenario,
                     "measure": f"{rate:,.0f} msg/s offered: delivery p50 / p99",
                     "value": value,
                     "target": TARGET if config.targeted and rate == TARGET_RATE else ""})
    held, capacity, cpu, db_cpu = [], [], [], []
    for results in passes:
        ok = [r["offered"] for r in results if not r["broken"]]
        held.append(max(ok, default=0.0))
        capacity.append(max((r["achieved"] for r in results if throughput_bound(r)),
                            default=0.0))
        steady = [r for r in results if not r["broken"]] or results
        cpu.append(statistics.median(r["server_cpu_ms"] for r in steady))
        db_cpu.append(statistics.median(r["db_cpu_ms"] for r in steady))
    first_rate = min(by_rate)
    if not any(held):
        value = f"nothing held (the first rate, {first_rate:,.0f} msg/s, broke)"
    elif not all(held):
        value = (f"{fmt(held, '{:,.0f}')} msg/s held (0: the first rate, {first_rate:,.0f} "
                 "msg/s, broke)")
    else:
        value = f"{fmt(held, '{:,.0f}')} msg/s held"
    reached = [c for c in capacity if c]  # a run whose last step broke on latency alone
    if reached:                            # says nothing about throughput
        value += f"; {fmt(reached, '{:,.0f}')} msg/s achieved when overloaded"
        if len(reached) < len(capacity):
            value += f" (in {len(reached)} of {len(capacity)} runs)"
    else:
        value += f"; no step up to {max(by_rate):,.0f} msg/s fell behind"
    value += f"; server CPU {fmt(cpu, '{:.2f}')} ms/message"
    if config.database == "postgresql":
        value += f" + PostgreSQL {fmt(db_cpu, '{:.2f}')} ms"
    rows.append({"scenario": scenario,
                 "measure": f"saturation: highest offered rate held (delivery p99 ≤ "
                            f"{P99_LIMIT_MS:.0f} ms, ≥ {MIN_ACHIEVED:.0%} achieved, none lost)",
                 "value": value, "target": ""})
    return rows


# --- entry point ----------------------------------------------------------------------------

def unavailable(config: Config, redis_url: str) -> str:
    """Why this configuration cannot run here ("" when it can)."""
    try:
        if config.database == "postgresql":
            postgres_admin("SELECT 1")
        if config.processes > 1:
            import redis

            redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except Exception as error:  # noqa: BLE001 (any failure means: skip, and say why)
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return ""


def end_to_end(runs: int, quick: bool) -> list[dict[str, Any]]:
    redis_url = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/5")
    rows: list[dict[str, Any]] = []
    chosen = []
    for config in configs(runs, quick):
        why = unavailable(config, redis_url)
        if why:
            rows.append({"scenario": config.label(quick), "measure": "not run",
                         "value": f"skipped: {why}", "target": ""})
        else:
            chosen.append(config)
    var_dirs: list[str] = []
    uses_pg = any(c.database == "postgresql" for c in chosen)
    try:
        setups: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
        if uses_pg:
            postgres_admin(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            postgres_admin(f"CREATE DATABASE {PG_DB}")
            var_dirs.append(tempfile.mkdtemp(prefix="p2s-bench-e2e-"))
            env = product_env(var_dirs[-1], DATABASE_URL=f"{pg_server()}/{PG_DB}")
            visitors = max(c.conversations for c in chosen if c.database == "postgresql")
            setups["postgresql"] = (prepare(env, visitors), env)
        if any(c.database == "sqlite" for c in chosen):
            var_dirs.append(tempfile.mkdtemp(prefix="p2s-bench-e2e-"))
            env = product_env(var_dirs[-1])
            visitors = max(c.conversations for c in chosen if c.database == "sqlite")
            setups["sqlite"] = (prepare(env, visitors), env)
        for config in chosen:
            setup, env = setups[config.database]
            rows += rows_for(config, quick, run_config(config, quick, setup, env, redis_url))
    finally:
        for var_dir in var_dirs:
            shutil.rmtree(var_dir, ignore_errors=True)
        if uses_pg:
            try:
                postgres_admin(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            except Exception as error:  # noqa: BLE001 (cleanup must not hide the result)
                print(f"could not drop {PG_DB}: {error}")
    return rows


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=None)
    options = parser.parse_args()
    started = time.monotonic()
    rows = end_to_end(options.runs or (1 if options.quick else 3), options.quick)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    print(f"done in {time.monotonic() - started:.0f} s ({Path(__file__).name})")


if __name__ == "__main__":
    main()
