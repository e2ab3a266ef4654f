"""A Redis server of a test's own: the real `redis-server` binary on a free port, which the
test stops and starts again (a Redis outage), never the shared one."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import redis

from .conftest import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisProcess:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=2)

    def start(self) -> None:
        assert self.proc is None
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        client = self.client()
        while True:  # until it answers: a condition, polled with a deadline
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def subscribers(self, channel: str) -> int:
        """How many connections are subscribed to `channel` now."""
        client = self.client()
        try:
            return int(dict(client.pubsub_numsub(channel))[channel.encode()])
        finally:
            client.close()


def wait_for(condition: object, timeout: float = 20, what: str = "condition") -> None:
    """Poll a condition that no event announces (a server's state) until a deadline."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def running_redis() -> Iterator[RedisProcess]:
    """The body of each module's `redis_server` fixture: a started server, stopped after."""
    server = RedisProcess()
    server.start()
    try:
        yield server
    finally:
        server.stop()
