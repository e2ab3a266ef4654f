"""Run the daily subscription update (H4) by hand, e.g. after fixing a failed run: the same
code as the 02:00 job. A day older than the last one applied is refused (it would roll
every subscription back), as is a day whose 02:00 has not come yet."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from plug2support.billing.daily import OlderDay, update_subscriptions
from plug2support.billing.moments import RUN_AT


class Command(BaseCommand):
    help = ("Run the daily subscription update of a day (default: the latest due one). "
            "Refused for a day older than the last one applied.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--day", help="the day, YYYY-MM-DD (UTC)")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        if options["day"]:
            try:
                day = date.fromisoformat(options["day"])
            except ValueError:
                raise CommandError("--day is a date, YYYY-MM-DD.") from None
        else:
            day = now.astimezone(UTC).date()
            if datetime.combine(day, RUN_AT, UTC) > now:
                day -= timedelta(days=1)
        slot = datetime.combine(day, RUN_AT, UTC)
        if slot > now:
            raise CommandError(f"The daily update of {day.isoformat()} is not due before "
                               f"{slot:%Y-%m-%d %H:%M} UTC.")
        try:
            outcome = update_subscriptions(day)
        except OlderDay as older:
            raise CommandError(str(older)) from None
        self.stdout.write(
            f"Daily update of {day.isoformat()}: {outcome.companies} companies, "
            f"{outcome.new_periods} new periods, {outcome.blocked_for_traffic} blocked for "
            f"traffic, {outcome.blocked_for_payment} for payment, alerts {outcome.alerts}.")
