from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from plug2support.ops.checks import require_secret_key_from_environment
from plug2support.ops.server import SERVER_OPTIONS


class Command(BaseCommand):
    help = "Serve HTTP and WebSocket with uvicorn (production: several workers, REDIS_URL set)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=1)
        parser.add_argument("--backlog", type=int, default=2048,
                            help="connections waiting to be accepted (the listen backlog)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["workers"] > 1 and not settings.REDIS_URL:
            # Without the Redis bus, a visitor on one process would never reach an operator
            # on another, and rate limits would count per process.
            raise CommandError("Several workers need REDIS_URL (the bus between processes).")
        require_secret_key_from_environment("web")
        uvicorn.run("plug2support.asgi:application", host=options["host"], port=options["port"],
                    workers=options["workers"], proxy_headers=True, backlog=options["backlog"],
                    **SERVER_OPTIONS)
