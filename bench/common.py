"""Shared pieces of the benchmark suite: servers pinned to a core, load generators pinned to
the other, CPU time and memory read from /proc, and summary statistics."""

# Subprocesses of our own commands.
# ruff: noqa: S603
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TWO_CORES = (os.cpu_count() or 1) >= 2
SERVER_CORE, LOAD_CORE = "0", "1"


def pinned(cmd: list[str], core: str) -> list[str]:
    """Server and load generator on different cores where there are two (taskset)."""
    return ["taskset", "-c", core, *cmd] if TWO_CORES else cmd


def raise_file_limit(wanted: int = 65_536) -> None:
    """Room for 20 000 sockets and more: the soft limit up to `wanted` (raising the hard
    limit too where allowed, as root), else up to the hard limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(wanted, soft), max(wanted, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (loopback only)
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


@contextmanager
def server(cmd: list[str], env: dict[str, str],
           health_url: str) -> Iterator[subprocess.Popen[bytes]]:
    # The server's errors go to a file (a pipe nobody reads would block it once full), and
    # their last lines are printed when it ends.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(pinned(cmd, SERVER_CORE), env={**os.environ, **env}, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_http(health_url, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.seek(0)
        errors = log.read().decode(errors="replace").strip()
        log.close()
        if errors:
            print(f"[{cmd[2] if len(cmd) > 2 else cmd[0]}] stderr (last lines):\n"
                  + "\n".join(errors.splitlines()[-15:]), file=sys.stderr)


def run_load(module: str, args: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
    """A load generator in its own process on the other core; it prints one JSON line."""
    out = subprocess.run(pinned([PYTHON, "-m", module, json.dumps(args)], LOAD_CORE),
                         cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def tcp_socket_memory_bytes() -> int:
    """Kernel memory of TCP sockets (all of the machine), from /proc/net/sockstat pages."""
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            parts = line.split()
            return int(parts[parts.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE")
    return 0


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(runs: Sequence[float]) -> dict[str, float]:
    """Median of the runs with min–max, as the README table shows them."""
    return {"median": statistics.median(runs), "min": min(runs), "max": max(runs)}


def product_env(var_dir: str, **extra: str) -> dict[str, str]:
    return {"P2S_VAR_DIR": var_dir, "DJANGO_SETTINGS_MODULE": "plug2support.settings",
            "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT), **extra}
