"""Inbound e-mail (issue 17): mail ingested per second by one worker through the SMTP
gateway, and the time from the gateway's 250 to the inbox frame on an operator's socket.

`mail(runs, quick)` returns rows for bench/run.py (`python -m bench.run --only mail`, `make
bench-mail`; alone: `python -m bench.mail_ingest [--quick] [--runs N] [--profile PATH]`).
Each run, on a fresh database:

1. PostgreSQL when DATABASE_URL is set (its server; the bench's own database
   `p2s_bench_mail`, dropped and created again for each run and dropped at the end), else
   SQLite (a file in a temporary directory). bench/mail_setup.py migrates and makes one
   company, its widget, its default support address and one operator with a session.
2. The product's processes as in production, each pinned to the server core: the web
   server (bench/serve.py: uvicorn with the production options, for the operator socket),
   `manage.py smtpd` and ONE `manage.py worker` (its inbound mail drain, mail/queue.py,
   beside db_worker and the periodic jobs' thread). All three have REDIS_URL (E2E_REDIS_URL, default
   redis://127.0.0.1:6379/5, with a REDIS_PREFIX of the run's own so that nothing else on
   that Redis is heard): a worker reaches the web process's sockets only through Redis.
   Without Redis the ingestion still runs and the latency row says why it did not.
3. bench/mail_load.py on the other core (bench/mail_load.py says what the messages are:
   a few KB, some multipart with a small attachment, two in ten replies). Warm-up: 10
   messages, until processed (imports, connections, the worker's start-up delay). Then, N
   messages a phase (2 000; 400 quick) over 8 concurrent SMTP connections:
   a. the gateway alone: the worker stopped (SIGSTOP), N sent as fast as the gateway takes
      them; its accept rate is N over the first to the last 250;
   b. the worker alone (SIGCONT) drains that backlog: N over the first message's
      `processed_at` to the last one's;
   c. both at once, the worker taking N more as they come: N over the first 250 to the last
      processed ("from the first accept to the last processed");
   CPU a message is each process's CPU time (from /proc) over the phase over N; "+
   PostgreSQL" the database backends' serving the product's connections
   (pg_stat_activity).
   d. latency: with the operator's socket open, 5 then 20 messages/s for 30 s (10 s quick),
      open loop over 4 connections: from each message's 250 to the first `conversation`
      frame carrying its marker on that socket, split where the worker had processed it (its
      `processed_at`: the worker's poll and processing, then the rest: the commit's publish
      through Redis, the web process, the socket). Lost: no frame within DRAIN of the last
      250.

`--profile PATH` runs the gateway and the worker under bench/profiled.py (cProfile, each
thread by its CPU clock) and writes PATH.smtpd.<thread> and PATH.worker.<thread> when they
stop; the figures of such a run are not the product's. bench/mail_breakdown.py times the
parts of processing in-process.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.common import (
    LOAD_CORE,
    PYTHON,
    ROOT,
    SERVER_CORE,
    cpu_seconds,
    free_port,
    pinned,
    product_env,
    server,
)

PG_DB = "p2s_bench_mail"
MESSAGES, QUICK_MESSAGES = 2000, 400
INGEST_CONNECTIONS = 8
# The latency's steady rates: the target's (20/s), and one a worker keeps up with
# comfortably, where what is left is the path itself (the worker's 0.2 s poll when idle).
RATES, TARGET_RATE, SECONDS, QUICK_SECONDS = [5, 20], 20, 30, 10
LATENCY_CONNECTIONS = 4
WARMUP = 10
# A message whose frame has not come this long after the last 250 is lost: long enough for
# a worker slower than the offered rate to catch up (then the latencies say how far behind).
DRAIN = 300.0
INGEST_TARGET, LATENCY_TARGET = "≥ 100/s", "p99 ≤ 1 s"


# --- the database -----------------------------------------------------------------------------

def pg_server() -> str:
    """DATABASE_URL without its database name: the server the bench makes its own on."""
    url = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit((url.scheme, url.netloc, "", "", "")).rstrip("/")


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{pg_server()}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def pg_backend_cpu() -> float:
    import psycopg

    from bench.e2e import cpu_of

    with psycopg.connect(f"{pg_server()}/postgres", autocommit=True) as conn:
        pids = [int(r[0]) for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (PG_DB,)).fetchall()]
    return cpu_of(pids)


def postgres() -> bool:
    return bool(os.environ.get("DATABASE_URL"))


def redis_url() -> str:
    """"" when no Redis answers."""
    url = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/5")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception:  # noqa: BLE001 (any failure: run without it, and say so)
        return ""
    return url


def helper(env: dict[str, str], **args: Any) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603 (our own module, our arguments)
        pinned([PYTHON, "-m", "bench.mail_setup", json.dumps(args)], LOAD_CORE), cwd=ROOT,
        env={**os.environ, **env}, check=True, capture_output=True, text=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --- the product's processes --------------------------------------------------------------------

def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited ({proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(3) == b"220":
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no SMTP greeting on port {port}")


@contextmanager
def command(cmd: list[str], env: dict[str, str], smtp_port: int = 0
            ) -> Iterator[subprocess.Popen[bytes]]:
    """A manage.py command on the server core, its stderr kept in a file (printed at the end
    when it said anything)."""
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(pinned(cmd, SERVER_CORE), env={**os.environ, **env}, cwd=ROOT,  # noqa: S603
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        if smtp_port:
            wait_port(smtp_port, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.seek(0)
        errors = log.read().decode(errors="replace").strip()
        log.close()
        if errors:
            print(f"[{' '.join(cmd[-3:])}] stderr (last lines):\n"
                  + "\n".join(errors.splitlines()[-15:]), file=sys.stderr)


class Load:
    """bench/mail_load.py on the load core, one command at a time."""

    def __init__(self, args: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 (our own module, our arguments)
            pinned([PYTHON, "-m", "bench.mail_load", json.dumps(args)], LOAD_CORE),
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self._line() != "READY":
            raise RuntimeError("the mail load generator did not start")

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the mail load generator exited ({self.proc.wait()})")
        return line.strip()

    def do(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return json.loads(self._line())  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- one run ------------------------------------------------------------------------------------

class Product:
    """CPU seconds of the product's processes (and PostgreSQL's backends) between marks."""

    def __init__(self, procs: dict[str, subprocess.Popen[bytes]]) -> None:
        self.procs = procs
        self.marks: list[dict[str, float]] = []

    def mark(self) -> dict[str, float]:
        now = {name: cpu_seconds(p.pid) for name, p in self.procs.items()}
        now["pg"] = pg_backend_cpu() if postgres() else 0.0
        self.marks.append(now)
        return now

    def since(self, mark: dict[str, float]) -> dict[str, float]:
        return {name: value - mark[name] for name, value in self.mark().items()}


def once(quick: bool, redis: str, profile: str = "") -> dict[str, Any]:
    var_dir = tempfile.mkdtemp(prefix="p2s-bench-mail-")
    extra = {"SECRET_KEY": secrets.token_urlsafe(50),
             "REDIS_PREFIX": f"p2s-mailbench-{secrets.token_hex(4)}"}
    if redis:
        extra["REDIS_URL"] = redis
    if postgres():
        pg_admin(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        pg_admin(f"CREATE DATABASE {PG_DB}")
        extra["DATABASE_URL"] = f"{pg_server()}/{PG_DB}"
    env = product_env(var_dir, **extra)
    n = QUICK_MESSAGES if quick else MESSAGES
    seconds = QUICK_SECONDS if quick else SECONDS
    out: dict[str, Any] = {"n": n}
    try:
        setup = helper(env, do="setup")
        web_port, smtp_port = free_port(), free_port()

        def manage(name: str, *args: str) -> list[str]:
            run = [PYTHON, "-m", "bench.profiled", f"{profile}.{name}"] if profile else [PYTHON]
            return [*run, "manage.py", name, *args]

        with ExitStack() as stack:
            procs = {
                "web": stack.enter_context(server(
                    [PYTHON, "-m", "bench.serve", json.dumps({"port": web_port})], env,
                    f"http://127.0.0.1:{web_port}/health")),
                "gateway": stack.enter_context(command(
                    manage("smtpd", "--host", "127.0.0.1", "--port", str(smtp_port)), env,
                    smtp_port=smtp_port)),
                "worker": stack.enter_context(command(manage("worker"), env)),
            }
            product = Product(procs)
            load = Load({"smtp_port": smtp_port, "web_port": web_port,
                         "address": setup["address"], "cookie": setup["cookie"],
                         "session": setup["session"]})
            stack.callback(load.close)

            before = helper(env, do="count")["finished"]
            warm = load.do(do="ingest", n=WARMUP, connections=2, start=0, tag="w")
            if warm["accepted"] != WARMUP:
                raise RuntimeError(f"the gateway refused the warm-up mail: {warm}")
            helper(env, do="wait", n=WARMUP, finished_before=before, timeout=60)

            # 1. The gateway alone, the worker stopped (SIGSTOP): a backlog of n.
            worker = procs["worker"].pid
            os.kill(worker, signal.SIGSTOP)
            try:
                mark = product.mark()
                out["alone"] = load.do(do="ingest", n=n, connections=INGEST_CONNECTIONS,
                                       start=0, tag="b")
                out["alone_cpu"] = product.since(mark)
                before = helper(env, do="count")["finished"]
            finally:
                os.kill(worker, signal.SIGCONT)
            # 2. The worker alone drains it.
            mark = product.mark()
            done = helper(env, do="wait", n=out["alone"]["accepted"], finished_before=before,
                          since=out["alone"]["began"], timeout=900)
            out["drain"], out["drain_cpu"] = done, product.since(mark)
            # 3. Both at once: n more through the gateway while the worker takes them.
            mark = product.mark()
            before = helper(env, do="count")["finished"]
            out["both"] = load.do(do="ingest", n=n, connections=INGEST_CONNECTIONS, start=0,
                                  tag="c")
            out["both_done"] = helper(env, do="wait", n=out["both"]["accepted"],
                                      finished_before=before, since=out["both"]["began"],
                                      timeout=900)
            out["both_cpu"] = product.since(mark)
            # 4. Latency at steady rates, the operator's socket open.
            for rate in RATES if redis else []:
                before = helper(env, do="count")["finished"]
                step = load.do(do="latency", rate=rate, seconds=seconds, start=0,
                               connections=LATENCY_CONNECTIONS, tag=f"l{rate}", drain=DRAIN)
                helper(env, do="wait", n=step["accepted"], finished_before=before, timeout=900)
                out.setdefault("latency", []).append(
                    latency_of(step, helper(env, do="timeline", tag=f"l{rate}"), rate))
        return {**out, **summarised(out)}
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def summarised(out: dict[str, Any]) -> dict[str, Any]:
    """A run's rates (messages a second) and CPU milliseconds a message, by phase."""
    alone, drain, both, both_done = out["alone"], out["drain"], out["both"], out["both_done"]
    return {
        "rates": {
            "alone": alone["accepted"] / max(alone["last_accept"] - alone["first_accept"], 1e-9),
            # n - 1 intervals between the first and the last message processed.
            "drain": (drain["finished"] - 1) / max(drain["last_processed"]
                                                   - drain["first_processed"], 1e-9),
            "both": both_done["finished"] / max(both_done["last_processed"]
                                                - both["first_accept"], 1e-9)},
        "ms": {"alone": per_message(out["alone_cpu"], alone["accepted"]),
               "drain": per_message(out["drain_cpu"], drain["finished"]),
               "both": per_message(out["both_cpu"], both_done["finished"])}}


def latency_of(step: dict[str, Any], timeline: dict[str, list[float | None]], rate: float
               ) -> dict[str, Any]:
    """The step's latencies, each message's split where the worker had processed it: the
    worker (250 → processed: its poll, its queue, processing) and the rest (processed → the
    frame: the commit's publish through Redis, the web process, the socket)."""
    from bench.common import percentile

    def stats(values: list[float]) -> dict[str, float]:
        return ({"p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99),
                 "max_ms": max(values)} if values else {})

    parts: dict[str, list[float]] = {"inbox": [], "worker": [], "publish": []}
    for n, (accepted, arrived) in step["times"].items():
        _, processed = timeline.get(n, [None, None])
        if arrived is None:
            continue
        parts["inbox"].append((arrived - accepted) * 1000)
        if processed is not None:
            parts["worker"].append((processed - accepted) * 1000)
            parts["publish"].append((arrived - processed) * 1000)
    return {"rate": rate, "sent": step["sent"], "delivered": len(parts["inbox"]),
            "lost": step["lost"], "accept": step["accept"],
            **{key: stats(values) for key, values in parts.items()}}


# --- the rows -----------------------------------------------------------------------------------

def per_message(cpu: dict[str, float], n: int) -> dict[str, float]:
    return {name: seconds / max(n, 1) * 1000 for name, seconds in cpu.items()}


def outcome(done: dict[str, Any]) -> str:
    mail = ", ".join(f"{v:,} {k}" for k, v in sorted(done["statuses"].items()))
    reasons = ", ".join(f"{v:,} {k}" for k, v in done["reasons"].items() if k)
    text = f"mail {mail}" + (f" ({reasons})" if reasons else "")
    if done["failure"]:
        text += f"; a failure: {done['failure'][0][:160]}"
    return text


def mail(runs: int, quick: bool) -> list[dict[str, Any]]:
    from bench.e2e import fmt, fmt_ms

    redis = redis_url()
    db = "PostgreSQL" if postgres() else "SQLite"
    n = QUICK_MESSAGES if quick else MESSAGES
    scenario = (f"Inbound mail ({db}, gateway + one worker, {n:,} messages"
                + (", 1 run)" if runs == 1 else ")"))
    try:
        results = [once(quick, redis) for _ in range(runs)]
    finally:
        if postgres():
            try:
                pg_admin(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            except Exception as error:  # noqa: BLE001 (cleanup must not hide the result)
                print(f"could not drop {PG_DB}: {error}")

    def cpu(phase: str, *processes: str) -> str:
        per = [r["ms"][phase] for r in results]
        text = (f"{' and '.join(processes)} CPU "
                f"{fmt([sum(p[name] for name in processes) for p in per], '{:.2f}')} ms a message")
        if postgres():
            text += f" + PostgreSQL {fmt([p['pg'] for p in per], '{:.2f}')} ms"
        return text

    def rate(phase: str) -> str:
        return f"{fmt([r['rates'][phase] for r in results], '{:,.0f}')}/s"

    sent = [r["alone"] for r in results]
    rows = [
        {"scenario": scenario,
         "measure": f"the worker alone: a backlog of {n:,} processed (first processed → "
                    "last processed)",
         "value": f"{rate('drain')}; {cpu('drain', 'worker')}; {outcome(results[-1]['drain'])}",
         "target": INGEST_TARGET},
        {"scenario": scenario,
         "measure": f"gateway and worker together (one core): {n:,} sent over "
                    f"{INGEST_CONNECTIONS} connections, first SMTP 250 → last processed",
         "value": (f"{rate('both')}; {cpu('both', 'gateway', 'worker')}; "
                   f"{outcome(results[-1]['both_done'])}"),
         "target": INGEST_TARGET},
        {"scenario": scenario,
         "measure": f"the gateway alone (the worker stopped): {n:,} accepted over "
                    f"{INGEST_CONNECTIONS} connections, first → last 250",
         "value": (f"{rate('alone')}; send → 250 p50 "
                   f"{fmt_ms([s['accept']['p50_ms'] for s in sent])}, p99 "
                   f"{fmt_ms([s['accept']['p99_ms'] for s in sent])}; {cpu('alone', 'gateway')}; "
                   f"{sent[-1]['bytes'] / 1024:.1f} KiB a message on average; "
                   f"{min(s['accepted'] for s in sent):,} accepted, "
                   f"{max(s['refused'] for s in sent)} refused"
                   + (f" ({sent[-1]['refusals'][0]})" if sent[-1]["refusals"] else "")),
         "target": ""},
    ]
    seconds = QUICK_SECONDS if quick else SECONDS
    for k, rate in enumerate(RATES):
        measure = (f"SMTP 250 → the conversation frame on an operator's socket, {rate} msg/s "
                   f"for {seconds} s: p50 / p99 / max")
        target = LATENCY_TARGET if rate == TARGET_RATE else ""
        if not redis:
            rows.append({"scenario": scenario, "measure": measure, "target": target,
                         "value": "skipped: no Redis (E2E_REDIS_URL), and a worker reaches the "
                                  "web process's sockets only through it"})
            continue
        steps = [r["latency"][k] for r in results]
        if any(not t["inbox"] for t in steps):
            value = f"no frame arrived: {max(t['lost'] for t in steps):,} lost"
        else:
            def part(key: str, steps: list[dict[str, Any]] = steps) -> str:
                return (f"p50 {fmt_ms([t[key]['p50_ms'] for t in steps])}, p99 "
                        f"{fmt_ms([t[key]['p99_ms'] for t in steps])}")

            value = (f"{part('inbox')}, max {fmt_ms([t['inbox']['max_ms'] for t in steps])}; "
                     f"of which 250 → processed by the worker {part('worker')}, "
                     f"processed → frame {part('publish')}; "
                     f"planned send → 250 p99 {fmt_ms([t['accept']['p99_ms'] for t in steps])}"
                     f"; {min(t['delivered'] for t in steps):,} of {steps[-1]['sent']:,} "
                     f"delivered, {max(t['lost'] for t in steps)} lost")
        rows.append({"scenario": scenario, "measure": measure, "value": value,
                     "target": target})
    return rows


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--profile", default="",
                        help="cProfile the gateway and the worker: files PATH.<command>.<thread>")
    options = parser.parse_args()
    started = time.monotonic()
    if options.profile:
        result = once(options.quick, redis_url(), profile=os.path.abspath(options.profile))
        print(json.dumps({k: v for k, v in result.items() if k != "latency"}, indent=1))
        print(f"profiles written to {options.profile}.smtpd.* and {options.profile}.worker.*")
        return
    for row in mail(options.runs, options.quick):
        print(json.dumps(row, ensure_ascii=False))
    print(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
