"""`make bench`: run the scenarios and write the results table into bench/README.md.

python -m bench.run [--quick] [--only page_views,idle_widgets]
Each figure is the median of the runs (3, or 1 with --quick) with min–max. The server is
pinned to core 0 and the load generator to core 1 (taskset) when there are two cores; all
traffic is loopback; every run stops by itself.
"""

# Subprocesses of our own commands.
# ruff: noqa: S603
from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.common import (
    LOAD_CORE,
    PYTHON,
    ROOT,
    SERVER_CORE,
    cpu_seconds,
    free_port,
    pinned,
    product_env,
    rss_bytes,
    run_load,
    server,
    summary,
    tcp_socket_memory_bytes,
)

README = ROOT / "bench" / "README.md"
# Quick runs (one run each, shorter) are for before/after comparisons of a change: written
# beside the README, never over its measured tables.
QUICK = ROOT / "bench" / "quick.md"


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), b""


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9))


def prepared_db(visitors: int) -> tuple[str, str]:
    var_dir = tempfile.mkdtemp(prefix="p2s-bench-")
    out = subprocess.run([PYTHON, "-m", "bench.setup_data", json.dumps({"visitors": visitors})],
                         cwd=ROOT, env={**os.environ, **product_env(var_dir)}, check=True,
                         capture_output=True, text=True)
    return var_dir, json.loads(out.stdout.strip().splitlines()[-1])["widget"]


def product_server(var_dir: str, port: int, **options: Any) -> Any:
    return server([PYTHON, "-m", "bench.serve", json.dumps({"port": port, **options})],
                  product_env(var_dir), f"http://127.0.0.1:{port}/health")


# --- scenario 4: page views ------------------------------------------------------------------

def page_views(runs: int, seconds: float) -> list[dict[str, Any]]:
    var_dir, widget = prepared_db(0)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    rows: list[dict[str, Any]] = []
    try:
        with product_server(var_dir, port):
            loader = fetch(f"{base}/static/widget/loader.js")[2]
            first_open = [fetch(f"{base}/widget/frame/{widget}/")[2]] + [
                fetch(f"{base}/static/widget/{name}")[2]
                for name in ("widget.css", "widget.js", "live.js", "files.js")]
            rows.append({"scenario": "Page views", "measure": "loader, gzipped",
                         "value": f"{gz(loader) / 1024:.1f} KiB", "target": "≤ 5 KB"})
            total = gz(loader) + sum(gz(part) for part in first_open)
            rows.append({"scenario": "Page views",
                         "measure": "everything on first open (loader, frame, CSS, JS), gzipped",
                         "value": f"{total / 1024:.1f} KiB", "target": "≤ 40 KB"})
            origin = {"Origin": "http://127.0.0.1:9"}
            _, headers, _ = fetch(f"{base}/widget/api/{widget}/config", origin)
            etag = headers.get("ETag", "")
            for label, extra in (("cold", {}), ("ETag → 304", {"If-None-Match": etag})):
                results = [run_load("bench.http_load", {
                    "host": "127.0.0.1", "port": port, "path": f"/widget/api/{widget}/config",
                    "headers": {**origin, **extra}, "seconds": seconds, "connections": 32})
                    for _ in range(runs)]
                rps = summary([r["rps"] for r in results])
                p99 = summary([r["p99_ms"] for r in results])
                rows.append({"scenario": "Page views",
                             "measure": f"configuration request, {label}: requests/s",
                             "value": fmt(rps, "{:,.0f}"), "target": "≥ 5 000"})
                rows.append({"scenario": "Page views",
                             "measure": f"configuration request, {label}: p99",
                             "value": fmt(p99, "{:.1f} ms"), "target": ""})
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    return rows


# --- scenario 3: idle widgets ---------------------------------------------------------------

# (label, kind, counts in full mode, counts in quick mode). The Channels consumer accepts 40 to
# 80 hellos a second here (the product about 400): 10 000 of them alone would take minutes of
# the 10-minute budget, and memory per socket does not depend on the count (3 000 and 6 000
# measured the same), so it is measured at 2 000.
# A process holds as many sockets as its open-file limit allows (20 000 files here, the hard
# limit, which this machine does not let anyone raise); more sockets mean more processes
# joined by Redis, as in production (README, "Production"): 20 000 are two processes of 10 000.
IDLE_VARIANTS = [("the product", "product", [10_000], [2000]),
                 ("the product, two processes joined by Redis", "product-redis", [20_000],
                  [2000]),
                 ("bare ASGI app under uvicorn's own WebSocket protocol", "floor", [10_000],
                  [2000]),
                 ("Django Channels consumer", "channels", [2000], [500])]


@contextmanager
def idle_servers(kind: str, var_dir: str) -> Iterator[list[tuple[int, Any]]]:
    """(port, process) of each server: the product under uvicorn (one process, or two joined
    by the Redis bus, both on the server core), a bare ASGI app under the same server, or the
    product's hello behind a Channels consumer (in-memory layer); all with WebSocket pings
    every 20 s."""
    with ExitStack() as stack:
        ports = [free_port() for _ in range(2 if kind == "product-redis" else 1)]
        if kind == "product":
            started = [product_server(var_dir, ports[0], ws_ping=20)]
        elif kind == "product-redis":
            redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
            started = [server([PYTHON, "-m", "bench.serve",
                               json.dumps({"port": port, "ws_ping": 20})],
                              product_env(var_dir, REDIS_URL=redis),
                              f"http://127.0.0.1:{port}/health") for port in ports]
        elif kind == "floor":
            started = [server([PYTHON, "-m", "bench.idle_floor",
                               json.dumps({"port": ports[0], "ws_ping": 20})],
                              product_env(var_dir), f"http://127.0.0.1:{ports[0]}/health")]
        else:
            started = [server([PYTHON, "-m", "bench.fanout_servers", json.dumps(
                {"kind": "channels", "port": ports[0], "redis": "", "idle": True,
                 "ws_ping": 20})], product_env(var_dir), f"http://127.0.0.1:{ports[0]}/health")]
        yield [(port, stack.enter_context(each)) for port, each in zip(ports, started,
                                                                         strict=True)]


def idle_widgets(runs: int, hold: float, quick: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    var_dir, widget = prepared_db(max(max(v[3] if quick else v[2]) for v in IDLE_VARIANTS))
    try:
        for label, kind, full_counts, quick_counts in IDLE_VARIANTS:
            counts = quick_counts if quick else full_counts
            rows += idle_once(kind, label, counts, var_dir, widget, runs, hold)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    return rows


def idle_once(kind: str, label: str, counts: list[int], var_dir: str, widget: str, runs: int,
              hold: float) -> list[dict[str, Any]]:
    """The servers of `kind`; sockets are opened up to each count in turn, so each is opened
    once and the accept rate is that one run; at each count, memory and idle CPU (of all the
    servers together) are measured `runs` times over successive windows."""
    rows: list[dict[str, Any]] = []
    with idle_servers(kind, var_dir) as servers:
        pids = [proc.pid for _, proc in servers]
        time.sleep(1)  # let the servers settle before the baseline
        rss0, kmem0 = sum(rss_bytes(pid) for pid in pids), tcp_socket_memory_bytes()
        # One client process per 10 000 sockets (a process's open files are limited, 20 000
        # here, so 20 000 sockets from one client would hit the client's limit first), and
        # at least one per server, each client talking to one server.
        shares = max(len(servers), -(-max(counts) // 10_000))
        clients = [subprocess.Popen(
            pinned([PYTHON, "-m", "bench.ws_idle", json.dumps(
                {"port": servers[share % len(servers)][0], "widget": widget,
                 "counts": [c // shares for c in counts],
                 "offset": share * (max(counts) // shares)})], LOAD_CORE),
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for share in range(shares)]
        try:
            for count in counts:
                readies = []
                for client in clients:
                    assert client.stdout is not None
                    line = ""
                    while not line.startswith("READY"):
                        line = client.stdout.readline()
                        if not line and client.poll() is not None:
                            raise RuntimeError("the idle client died")
                    readies.append(json.loads(line.split(" ", 1)[1]))
                ready = {"connected": sum(r["connected"] for r in readies),
                         "accept_rate": sum(r["accept_rate"] for r in readies),
                         "failed": sum(r["failed"] for r in readies),
                         "why": sorted({w for r in readies for w in r["why"]})[:3]}
                connected = ready["connected"]
                if not connected:
                    raise RuntimeError(f"no idle socket connected: {ready}")
                per_socket, idle_cpu = [], []
                for _ in range(runs):
                    time.sleep(1)
                    cpu0 = sum(cpu_seconds(pid) for pid in pids)
                    time.sleep(hold)  # idle, with heartbeats on
                    cpu1 = sum(cpu_seconds(pid) for pid in pids)
                    rss1 = sum(rss_bytes(pid) for pid in pids)
                    kmem1 = tcp_socket_memory_bytes()
                    # Kernel socket memory counts both ends on loopback: half is ours.
                    per_socket.append(((rss1 - rss0) + (kmem1 - kmem0) / 2) / connected / 1024)
                    idle_cpu.append((cpu1 - cpu0) / hold * 100)
                scenario = f"Idle widgets ({count:,}), {label}"
                rows += [
                    {"scenario": scenario,
                     "measure": "memory per socket (RSS + server half of kernel TCP memory)",
                     "value": fmt(summary(per_socket), "{:.1f} KiB"),
                     "target": "≤ 16 KiB" if kind.startswith("product") else ""},
                    {"scenario": scenario, "measure": "accept rate, hello → welcome (one run)",
                     "value": f"{ready['accept_rate']:,.0f}/s ({connected:,} held"
                              + (f"; {ready['failed']:,} failed: {'; '.join(ready['why'])}"
                                 if ready.get("failed") else "") + ")",
                     "target": ""},
                    {"scenario": scenario, "measure": "idle CPU, heartbeats on"
                     + (" (both processes)" if len(servers) > 1 else ""),
                     "value": fmt(summary(idle_cpu), "{:.1f} %"), "target": ""},
                ]
                for client in clients:
                    assert client.stdin is not None
                    client.stdin.write("more\n")
                    client.stdin.flush()
        finally:
            for client in clients:
                assert client.stdin is not None
                client.stdin.close()
            for client in clients:
                client.wait(timeout=60)
    return rows


# --- scenario 1: fan-out core ---------------------------------------------------------------

FANOUT_VARIANTS = [
    ("the product's hub, in-process bus", "hub", False),
    ("the product's hub, Redis bus", "hub", True),
    ("Django Channels, in-memory layer", "channels", False),
    ("Django Channels, RedisPubSubChannelLayer", "channels", True),
    ("python-socketio", "socketio", False),
    ("python-socketio, Redis manager", "socketio", True),
]


def fanout_once(kind: str, redis: str, pairs: int, seconds: float) -> dict[str, float]:
    port = free_port()
    cmd = [PYTHON, "-m", "bench.fanout_servers",
           json.dumps({"kind": kind, "port": port, "redis": redis})]
    var_dir = tempfile.mkdtemp(prefix="p2s-bench-")
    try:
        with server(cmd, product_env(var_dir), f"http://127.0.0.1:{port}/health") as proc:
            load = subprocess.Popen(
                pinned([PYTHON, "-m", "bench.fanout_load", json.dumps(
                    {"kind": kind, "port": port, "pairs": pairs, "seconds": seconds})],
                    LOAD_CORE), cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True)
            assert load.stdin is not None and load.stdout is not None
            try:
                line = load.stdout.readline()
                if not line.startswith("READY"):
                    raise RuntimeError(f"{kind}: the load generator did not connect")
                cpu0 = cpu_seconds(proc.pid)
                load.stdin.write("go\n")
                load.stdin.flush()
                result = json.loads(load.stdout.readline())
                cpu1 = cpu_seconds(proc.pid)
            finally:
                load.kill()
                load.wait()
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    cpu = max(cpu1 - cpu0, 1e-9)
    return {**result, "per_core": result["deliveries"] / cpu,
            "cpu_us_per_delivery": cpu / max(result["deliveries"], 1) * 1e6}


def fanout_core(runs: int, seconds: float, pairs: int) -> list[dict[str, Any]]:
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    rows: list[dict[str, Any]] = []
    base = None
    for label, kind, uses_redis in FANOUT_VARIANTS:
        results = [fanout_once(kind, redis if uses_redis else "", pairs, seconds)
                   for _ in range(runs)]
        per_core = summary([r["per_core"] for r in results])
        base = base or per_core["median"]
        ratio = base / per_core["median"] if per_core["median"] else float("nan")
        rows.append({"scenario": f"Fan-out core ({pairs} pairs, saturation)", "measure": label,
                     "value": (f"{fmt(per_core, '{:,.0f}')} deliveries/s per server core; "
                               f"{fmt(summary([r['per_second'] for r in results]), '{:,.0f}')}"
                               "/s wall; p50 "
                               f"{fmt(summary([r['p50_ms'] for r in results]), '{:.1f}')}"
                               f" ms, p99 {fmt(summary([r['p99_ms'] for r in results]), '{:.1f}')}"
                               " ms, p99.9 "
                               f"{fmt(summary([r['p999_ms'] for r in results]), '{:.1f}')}"
                               f" ms; the product is {ratio:.1f}× this"),
                     "target": "≥ 15 000/core" if kind == "hub" and not uses_redis else
                     ("product ≥ 4×" if kind == "channels" and not uses_redis else
                      ("product ≥ 3×" if kind == "socketio" and not uses_redis else ""))})
    return rows


def fmt(stats: dict[str, float], pattern: str) -> str:
    if stats["min"] == stats["max"]:
        return pattern.format(stats["median"])
    return (f"{pattern.format(stats['median'])} "
            f"({pattern.format(stats['min'])}–{pattern.format(stats['max'])})")


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def calibration() -> float:
    """Seconds for a fixed pure-Python loop (10 M additions), the best of 3, on the server
    core: the same machine's speed moved by up to half from one hour to the next here, so
    the table says how fast the machine was while it ran."""
    code = ("import time\nbest = 9e9\nfor _ in range(3):\n    t = time.perf_counter()\n"
            "    s = 0\n    for i in range(10_000_000):\n        s += i\n"
            "    best = min(best, time.perf_counter() - t)\nprint(best)")
    out = subprocess.run(pinned([PYTHON, "-c", code], SERVER_CORE), capture_output=True,
                         text=True, check=True, timeout=120)
    return float(out.stdout.strip())


CALIBRATION: list[float] = []  # at the start and at the end of the run


def cpu_ticks() -> tuple[int, int]:
    """(steal, all) CPU ticks of the machine since boot, from /proc/stat. Steal is the time
    the hypervisor gave this virtual machine's cores to others: on a shared host it is the
    other half of why the same code measures differently an hour later."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


TICKS_AT_START: list[tuple[int, int]] = []


def steal_share() -> str:
    if not TICKS_AT_START:
        return ""
    (steal0, all0), (steal1, all1) = TICKS_AT_START[0], cpu_ticks()
    share = (steal1 - steal0) / max(all1 - all0, 1) * 100
    return f" CPU time taken by the hypervisor (steal) during the run: {share:.1f} %."


def write_readme(rows: list[dict[str, Any]], quick: bool, block: str = "results",
                 runs: str = "") -> None:
    """The table between README's `<!-- {block}:start -->` and `:end -->` markers: the main
    one (`results`), or the burst's and the soak's, which have sections of their own."""
    start_mark, end_mark = f"<!-- {block}:start -->", f"<!-- {block}:end -->"
    table = ["| scenario | measure | result (median, min–max) | target |",
             "| --- | --- | --- | --- |"]
    table += [f"| {r['scenario']} | {r['measure']} | {r['value']} | {r['target']} |"
              for r in rows]
    text = "\n".join([
        start_mark,
        f"Run on {dt.date.today().isoformat()}, {machine()}; "
        f"{runs or ('quick mode (1 run each)' if quick else 'median of 3 runs')}. "
        "Machine speed (a pure-Python loop of 10 M additions, best of 3, lower is faster): "
        + " at the start, ".join(f"{c:.2f} s" for c in CALIBRATION)
        + (" at the end." if len(CALIBRATION) > 1 else " at the start.") + steal_share(),
        "",
        *table,
        end_mark,
    ])
    target = QUICK if quick else README
    if quick and not QUICK.exists():
        QUICK.write_text("# Quick benchmark run (`make bench-quick`; not committed)\n\n"
                         "<!-- results:start -->\n<!-- results:end -->\n\n"
                         "<!-- burst:start -->\n<!-- burst:end -->\n\n"
                         "<!-- soak:start -->\n<!-- soak:end -->\n\n"
                         "<!-- view-counts:start -->\n<!-- view-counts:end -->\n\n"
                         "<!-- reports:start -->\n<!-- reports:end -->\n")
    readme = target.read_text()
    if start_mark not in readme:  # a quick.md written before this block existed
        readme += f"\n{start_mark}\n{end_mark}\n"
    start, end = readme.index(start_mark), readme.index(end_mark) + len(end_mark)
    target.write_text(readme[:start] + text + readme[end:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    # burst and soak (bench/burst.py), mail (bench/mail_ingest.py), view_counts
    # (bench/view_counts.py) and reports_scale (bench/reports_scale.py) run only when named;
    # each writes its own table.
    parser.add_argument("--only",
                        default="fanout_core,page_views,end_to_end,idle_widgets,inbox_scale")
    parser.add_argument("--soak-minutes", type=float, default=5)
    options = parser.parse_args()
    runs = 1 if options.quick else 3
    chosen = options.only.split(",")
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    TICKS_AT_START.append(cpu_ticks())
    CALIBRATION.append(calibration())
    # The table is rewritten after each scenario, so a run cut short keeps what it measured.
    if "fanout_core" in chosen:
        rows += fanout_core(runs, seconds=2 if options.quick else 3, pairs=25)
        write_readme(rows, options.quick)
    if "page_views" in chosen:
        rows += page_views(runs, seconds=2 if options.quick else 3)
        write_readme(rows, options.quick)
    if "end_to_end" in chosen:
        from bench.e2e import end_to_end

        rows += end_to_end(runs, options.quick)
        write_readme(rows, options.quick)
    if "idle_widgets" in chosen:
        rows += idle_widgets(runs, hold=4, quick=options.quick)
        write_readme(rows, options.quick)
    if "inbox_scale" in chosen:
        from bench.inbox_scale import inbox_scale

        rows += inbox_scale(runs, options.quick)
    own_tables: list[tuple[str, list[dict[str, Any]]]] = []
    if "burst" in chosen:
        from bench.burst import burst

        own_tables.append(("burst", burst(runs, options.quick)))
        write_readme(own_tables[-1][1], options.quick, block="burst")
    if "soak" in chosen:
        from bench.burst import soak

        own_tables.append(("soak", soak(options.soak_minutes)))
    if "view_counts" in chosen:
        from bench.view_counts import view_counts

        own_tables.append(("view-counts", view_counts(runs, 100 if options.quick else 300)))
        write_readme(own_tables[-1][1], options.quick, block="view-counts")
    if "reports_scale" in chosen:
        from bench.reports_scale import reports_scale

        own_tables.append(("reports", reports_scale(runs, options.quick)))
        write_readme(own_tables[-1][1], options.quick, block="reports")
    if "mail" in chosen:
        from bench.mail_ingest import mail

        # One database a run (PostgreSQL with DATABASE_URL), each its own table.
        block = f"mail-{'postgresql' if os.environ.get('DATABASE_URL') else 'sqlite'}"
        own_tables.append((block, mail(runs, options.quick)))
        write_readme(own_tables[-1][1], options.quick, block=block)
    for row in rows + [row for _, table in own_tables for row in table]:
        print(f"{row['scenario']:<24} {row['measure']:<70} {row['value']}")
    CALIBRATION.append(calibration())
    if rows:
        write_readme(rows, options.quick)
    for block, table in own_tables:
        write_readme(table, options.quick, block=block,
                     runs="one run" if block == "soak" else "")
    print(f"done in {time.monotonic() - started:.0f} s; tables written to "
          f"{QUICK if options.quick else README}")


if __name__ == "__main__":
    main()
