"""The idempotent demo: one company, an owner, two operators, one widget (L1)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from plug2support.accounts.models import Company, Membership, Role, User
from plug2support.widgets.models import Widget

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 (printed by `make run`: a demo only)
DEMO_SITE_ORIGINS = ["http://127.0.0.1:8001", "http://localhost:8001"]
PEOPLE = [
    ("owner@demo.example", "Olivia Owner", Role.OWNER),
    ("alice@demo.example", "Alice Operator", Role.OPERATOR),
    ("bob@demo.example", "Bob Operator", Role.OPERATOR),
]


@dataclass
class Demo:
    company: Company
    widget: Widget
    users: list[User]


@transaction.atomic
def load_demo() -> Demo:
    company = Company.objects.filter(name="Demo Company").order_by("pk").first()
    if company is None:
        company = Company.objects.create(name="Demo Company")
    users = []
    for email, name, role in PEOPLE:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, name=name, password=DEMO_PASSWORD)
        Membership.objects.get_or_create(user=user, company=company, defaults={"role": role})
        users.append(user)
    widget = Widget.objects.filter(company=company, name="Demo website").first()
    if widget is None:
        widget = Widget.objects.create(company=company, name="Demo website",
                                       allowed_origins="\n".join(DEMO_SITE_ORIGINS))
    return Demo(company=company, widget=widget, users=users)
