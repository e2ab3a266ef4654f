"""Two uvicorn processes joined by the Redis bus: a visitor on one, an operator on the other,
messages flow both ways (L2)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from .conftest import REDIS, free_port, make_tenant, needs_redis, open_operator, open_visitor

# The servers under test need Redis even when this suite runs on the in-process bus.
pytestmark = needs_redis


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_server(port: int, **settings: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": REDIS,
           "PUBLIC_URL": f"http://127.0.0.1:{port}", **settings}
    # The production command (`manage.py web`): the product's server options, its own
    # WebSocket protocol and uvicorn's proxy headers.
    return subprocess.Popen(
        [sys.executable, "manage.py", "web", "--host", "127.0.0.1", "--port", str(port)],
        env=env, cwd=Path(__file__).resolve().parent.parent)


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)  # not listening yet: poll again
    raise RuntimeError(f"{url} did not become healthy")


@contextmanager
def running_servers(**settings: str) -> Iterator[tuple[str, str]]:
    """Two `manage.py web` processes on the test database, healthy; stopped afterwards."""
    procs, urls = [], []
    for _ in range(2):
        port = free_port()
        procs.append(start_server(port, **settings))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url, proc in zip(urls, procs, strict=True):
            wait_healthy(url, proc)
        yield urls[0], urls[1]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)


@pytest.fixture
def two_servers(transactional_db: Any) -> Iterator[tuple[str, str]]:
    with running_servers() as urls:
        yield urls


def test_visitor_on_one_process_and_operator_on_another_talk_both_ways(
        two_servers: tuple[str, str]) -> None:
    first, second = two_servers
    acme = make_tenant("Acme")
    make_tenant("Globex")
    operator = open_operator(second, acme.operators[0])
    visitor, _ = open_visitor(first, acme.widget)

    ack = visitor.request({"type": "message", "client_id": "v1", "body": "Hello from :1"})
    arrived = operator.recv_until(lambda f: f["type"] == "conversation")
    assert arrived["conversation"]["id"] == ack["conversation"]

    operator.request({"type": "subscribe", "conversation": ack["conversation"], "after": 0})
    first_event = operator.recv_until(lambda f: f["type"] == "event")
    assert first_event["body"] == "Hello from :1"
    reply = operator.request({"type": "message", "conversation": ack["conversation"],
                              "client_id": "o1", "body": "Hello from :2"})
    assert reply["type"] == "ack"
    heard = visitor.recv_until(lambda f: f["type"] == "event" and f["sender"] == "operator")
    assert heard["body"] == "Hello from :2"

    visitor.request({"type": "message", "client_id": "v2", "body": "And back"})
    back = operator.recv_until(lambda f: f["type"] == "event" and f["body"] == "And back")
    assert back["seq"] > reply["seq"]
