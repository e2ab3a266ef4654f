from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from plug2support.ops.checks import require_secret_key_from_environment
from plug2support.ops.periodic import start_scheduler


class Command(BaseCommand):
    help = ("Run background tasks (e-mail) and the periodic jobs (ops/periodic.py: the daily "
            "subscription update, …). Safe to run many at once, on several machines: tasks "
            "are claimed with row locks, each periodic slot by its unique row.")

    def handle(self, *args: Any, **options: Any) -> None:
        require_secret_key_from_environment("worker")
        stop = start_scheduler()
        try:
            # An idle worker asks for new tasks five times a second (one indexed query each):
            # a customer's mail reaches the inbox well within a second of its SMTP 250 (F4,
            # bench/README.md), where a 1 s poll alone cost half a second on average.
            call_command("db_worker", queue_name="*", interval=0.2)
        finally:
            stop.set()
