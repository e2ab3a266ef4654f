"""`manage.py smtpd`: the inbound SMTP gateway (plug2support/mail/gateway.py) on its own,
for production behind the inbound domain's MX (docs/email.md). A worker processes what it
stores."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from plug2support.mail.gateway import start_gateway


class Command(BaseCommand):
    help = "Accept mail for the inbound domain over SMTP and hand it to the worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2525)

    def handle(self, *args: Any, **options: Any) -> None:
        gateway = start_gateway(options["host"], options["port"])
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"Inbound SMTP for @{settings.INBOUND_EMAIL_DOMAIN} on "
                          f"smtp://{options['host']}:{options['port']}")
        stop.wait()
        gateway.stop()
