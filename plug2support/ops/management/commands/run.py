"""`make run`: the whole product on the embedded default, in one process.

uvicorn serves the product on :8000 (HTTP and WebSocket, in-process bus); a thread serves the
demo customer website on :8001, a different origin, whose page embeds the widget snippet; a
thread runs the background worker and another the periodic jobs (ops/periodic.py: the daily
subscription update, …). Ctrl-C stops them all.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django_tasks_db.management.commands.db_worker import Worker

from plug2support.mail.gateway import start_gateway
from plug2support.mail.queue import start_drain
from plug2support.mail.support import default_address
from plug2support.ops.demo import DEMO_PASSWORD, allow_demo_site, demo_site_origins, load_demo
from plug2support.ops.demo_site import start_demo_site
from plug2support.ops.periodic import start_scheduler
from plug2support.ops.server import SERVER_OPTIONS
from plug2support.widgets.views import snippet_for


def start_worker() -> Any:
    worker = Worker(queue_names=["*"], interval=0.5, batch=False, backend_name="default",
                    startup_delay=False, max_tasks=None, worker_id="embedded",
                    excluded_queue_names=[])
    threading.Thread(target=worker.run, name="worker", daemon=True).start()
    return worker


def local_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches a server listening on host:port."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (names only): every address, this one too
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Command(BaseCommand):
    help = "Run the product, the demo website and a worker on the embedded default."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--demo-port", type=int, default=8001)
        parser.add_argument("--smtp-port", type=int, default=2525)

    def handle(self, *args: Any, **options: Any) -> None:
        if not os.environ.get("PUBLIC_URL"):
            # The address links and the snippet point at follows --host/--port (the demo
            # site's snippet, e-mails), unless the environment names another.
            settings.PUBLIC_URL = local_url(options["host"], options["port"])
        call_command("migrate", interactive=False, verbosity=0)
        demo = load_demo()
        allow_demo_site(demo.widget, demo_site_origins(options["host"], options["demo_port"]))
        site = start_demo_site(options["host"], options["demo_port"], snippet_for(demo.widget))
        worker = start_worker()
        drain = start_drain()
        support = default_address(demo.company)
        gateway = start_gateway(options["host"], options["smtp_port"])
        scheduler = start_scheduler()
        self.stdout.write(self.style.SUCCESS(
            f"\nPlug2Support is running at {settings.PUBLIC_URL}/  (Ctrl-C stops it)\n"
            f"Demo customer website:       http://{options['host']}:{options['demo_port']}/\n"
            f"Inbound e-mail: smtp://{options['host']}:{options['smtp_port']} → "
            f"{support.address}\n"
            f"Log in as (password {DEMO_PASSWORD}):"))
        for user in demo.users:
            self.stdout.write(f"  {user.email}")
        try:
            uvicorn.run("plug2support.asgi:application", host=options["host"],
                        port=options["port"], log_level="info", **SERVER_OPTIONS)
        finally:
            worker.running = False
            scheduler.set()
            drain.set()
            site.shutdown()
            gateway.stop()
            self.stdout.write("Stopped.")
