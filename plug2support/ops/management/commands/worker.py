from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from plug2support.mail.queue import start_drain
from plug2support.ops.checks import require_secret_key_from_environment
from plug2support.ops.periodic import start_scheduler


class Command(BaseCommand):
    help = ("Run background tasks (e-mail out, inbound mail) and the periodic jobs "
            "(ops/periodic.py: the daily subscription update, …). Safe to run many at once, "
            "on several machines: tasks and inbound mail are claimed with row locks, each "
            "periodic slot by its unique row.")

    def handle(self, *args: Any, **options: Any) -> None:
        require_secret_key_from_environment("worker")
        stop = start_scheduler()
        drain = start_drain()  # inbound mail: its own queue (mail/queue.py)
        try:
            # An idle worker asks for new tasks five times a second (one indexed query each),
            # as its mail drain does: a reply or an invitation leaves at once.
            call_command("db_worker", queue_name="*", interval=0.2)
        finally:
            stop.set()
            drain.set()
