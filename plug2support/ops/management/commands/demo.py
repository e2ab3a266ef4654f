from typing import Any

from django.core.management.base import BaseCommand

from plug2support.ops.demo import DEMO_PASSWORD, load_demo


class Command(BaseCommand):
    help = "Create (or keep) the demo company, its users and its widget. Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        demo = load_demo()
        self.stdout.write(f"Demo company: {demo.company.name}, widget key {demo.widget.key}")
        for user in demo.users:
            self.stdout.write(f"  {user.email:<24} password: {DEMO_PASSWORD}")
