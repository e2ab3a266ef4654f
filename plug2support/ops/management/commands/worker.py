from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = ("Run background tasks (e-mail, later the scheduler). Safe to run many at once, "
            "on several machines: tasks are claimed with row locks.")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("db_worker", queue_name="*", interval=1.0)
