"""The access log keeps no query string values (N8): a signed link, a search or a token that a
client put in a URL against the docs never reaches the logs, on the real server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from plug2support.ops.server import without_query_values

from .conftest import free_port


def test_query_values_are_dropped_and_their_names_kept() -> None:
    assert without_query_values("/inbox/list?q=refund+for+Jane&page=2") == \
        "/inbox/list?q=…&page=…"
    assert without_query_values("/widget/api/k/attachments/7?sig=abc:def") == \
        "/widget/api/k/attachments/7?sig=…"
    assert without_query_values("/health") == "/health"
    assert without_query_values("/a?&flag") == "/a?flag=…"


def test_the_served_access_log_has_no_token_or_signature(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "P2S_VAR_DIR": str(tmp_path), "SECRET_KEY": "x" * 50,
           "PUBLIC_URL": f"http://127.0.0.1:{port}"}
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)  # /health reads no table: the var directory's SQLite
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "manage.py", "web", "--port", str(port)], cwd=root,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    secret = "tok3n-that-must-not-be-logged"
    try:
        deadline = time.monotonic() + 30
        while True:  # poll until the server answers
            assert proc.poll() is None
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health?token={secret}",
                                       timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.2)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0].decode()
    assert '"GET /health?token=… HTTP/1.1" 200' in out
    assert secret not in out
