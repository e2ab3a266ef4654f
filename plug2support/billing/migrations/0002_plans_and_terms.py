"""H1 and H8: the Free and Startup plans and the terms one can pay for. Staff change prices
and discounts in the back office; these are the starting values."""

from decimal import Decimal

from django.db import migrations

PLANS = [
    # code, name, kind, traffic limit, invited users, seat price per month
    ("free", "Free", "free", 200, 1, Decimal("0.00")),
    ("startup", "Startup", "startup", 1250, 100, Decimal("19.00")),
]
TERMS = [(1, Decimal("0")), (3, Decimal("5")), (6, Decimal("10")), (12, Decimal("20"))]


def create(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    Term = apps.get_model("billing", "Term")
    for code, name, kind, traffic, invited, price in PLANS:
        Plan.objects.update_or_create(code=code, defaults={
            "name": name, "kind": kind, "traffic_limit": traffic,
            "invited_users_limit": invited, "seat_price": price})
    for months, discount in TERMS:
        Term.objects.update_or_create(months=months, defaults={"discount_percent": discount})


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
