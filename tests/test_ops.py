"""Running it (L1, L2): the idempotent demo, the demo site's snippet, the background worker,
the production `web` command."""

from __future__ import annotations

from typing import Any

from django.core import mail

from plug2support.accounts.models import Company, Membership, User
from plug2support.ops.demo import DEMO_PASSWORD, load_demo
from plug2support.ops.demo_site import demo_site_page
from plug2support.widgets.models import Widget
from plug2support.widgets.views import snippet_for


def test_the_demo_loads_twice_without_doubling_anything(db: Any) -> None:
    first = load_demo()
    second = load_demo()
    assert first.company == second.company and first.widget == second.widget
    assert Company.objects.count() == 1 and Widget.objects.count() == 1
    assert User.objects.count() == 3 and Membership.objects.count() == 3
    assert all(user.check_password(DEMO_PASSWORD) for user in second.users)
    assert "http://127.0.0.1:8001" in second.widget.origin_list


def test_the_demo_widget_follows_the_demo_site_to_another_port(db: Any) -> None:
    from plug2support.ops.demo import allow_demo_site, demo_site_origins

    widget = load_demo().widget
    for _ in range(2):  # each start of `run --demo-port 8123`; the second adds nothing
        allow_demo_site(widget, demo_site_origins("127.0.0.1", 8123))
    widget.refresh_from_db()
    assert widget.allows_origin("http://127.0.0.1:8123")
    assert widget.allows_origin("http://localhost:8123")
    assert widget.origin_list.count("http://127.0.0.1:8123") == 1
    assert not widget.allows_origin("http://127.0.0.1:9999")
    assert demo_site_origins("demo.lan", 8001) == ["http://demo.lan:8001"]


def test_the_demo_site_embeds_the_widget_snippet(db: Any) -> None:
    widget = load_demo().widget
    page = demo_site_page(snippet_for(widget)).decode()
    assert f'data-widget="{widget.key}"' in page
    assert "/static/widget/loader.js" in page


def test_the_worker_sends_queued_email(transactional_db: Any, settings: Any) -> None:
    """The worker closes stale connections between tasks, so it runs outside a test transaction."""
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.models import DBTaskResult

    from plug2support.lib.mail import send_email

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    send_email.enqueue(to=["someone@example.com"], subject="Hello", text="Body", html="<p>Body</p>")
    assert mail.outbox == []  # queued, not sent
    worker = Worker(queue_names=["*"], interval=0, batch=True, backend_name="default",
                    startup_delay=False, max_tasks=None, worker_id="test",
                    excluded_queue_names=[])
    worker.run()
    assert [m.subject for m in mail.outbox] == ["Hello"]
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"


def test_several_web_workers_without_redis_are_refused(settings: Any) -> None:
    import pytest
    from django.core.management import CommandError, call_command

    settings.REDIS_URL = ""
    with pytest.raises(CommandError, match="REDIS_URL"):
        call_command("web", workers=2)


def test_web_serves_widget_sockets_and_tells_them_to_come_back_when_it_stops(
        transactional_db: Any) -> None:
    """`manage.py web`, the production server, as an operator runs it: a visitor and an
    operator talk both ways on it, and a shutdown with sockets open tells each to come back
    (1012) and ends in time (uvicorn ends a graceful shutdown by raising the signal it
    caught again)."""
    import os
    import signal
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    import pytest
    from websockets.exceptions import ConnectionClosed

    from tests.conftest import free_port, make_tenant, open_operator, open_visitor
    from tests.test_multiprocess import database_url, wait_healthy

    acme = make_tenant("Acme")
    make_tenant("Globex")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": database_url(), "PUBLIC_URL": url}
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "web", "--host", "127.0.0.1", "--port", str(port)],
        env=env, cwd=Path(__file__).resolve().parent.parent)
    sockets = []
    try:
        wait_healthy(url, proc)
        operator = open_operator(url, acme.operators[0])
        sockets.append(operator)
        visitors = [open_visitor(url, acme.widget)[0] for _ in range(2)]
        sockets += visitors
        for visitor in visitors:
            ack = visitor.request({"type": "message", "client_id": "c1", "body": "Still here?"})
            assert ack["type"] == "ack"
            arrived = operator.recv_until(
                lambda f, c=ack["conversation"]: f["type"] == "conversation"
                and f["conversation"]["id"] == c)
            operator.request({"type": "subscribe", "conversation": arrived["conversation"]["id"],
                              "after": 0})
            reply = operator.request({"type": "message", "conversation": ack["conversation"],
                                      "client_id": f"o{ack['conversation']}", "body": "Yes"})
            assert reply["type"] == "ack"
            heard = visitor.recv_until(
                lambda f: f["type"] == "event" and f["sender"] == "operator")
            assert heard["body"] == "Yes"
        with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
            assert response.status == 200
        proc.terminate()
        with pytest.raises(ConnectionClosed) as closed:
            visitors[-1].recv_until(lambda f: False, timeout=15)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        for socket in sockets:
            socket.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_on_other_ports_points_the_demo_site_and_links_at_them(tmp_path: Any) -> None:
    """`run --port P --demo-port Q` without PUBLIC_URL: the demo site's snippet loads the
    widget from P (it loaded it from :8000, where nothing listened)."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    from tests.conftest import free_port

    port, demo_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PUBLIC_URL", "DATABASE_URL",
                                                            "REDIS_URL")}
    env["P2S_VAR_DIR"] = str(tmp_path)
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "manage.py", "run", "--port", str(port),
                             "--demo-port", str(demo_port)], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:  # poll until the demo site answers (the migrations come first)
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{demo_port}/", timeout=1) as r:
                    page = r.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "the demo site never answered"
                time.sleep(0.2)
        assert f"http://127.0.0.1:{port}/static/widget/loader.js" in page
        assert "127.0.0.1:8000" not in page
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    from plug2support.ops.management.commands.run import local_url

    assert local_url("0.0.0.0", 8600) == "http://127.0.0.1:8600"  # noqa: S104 (a name)
    assert local_url("::1", 8600) == "http://[::1]:8600"
