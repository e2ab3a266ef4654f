"""When billing things happen, as the alerts tell them (H4, H5): the daily update's hour and
grace, the update at which a cause turns into a block, and the company's time zone to say it
in. The daily update decides with the same constants, so what an e-mail promises is what
happens."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from plug2support.widgets.models import Widget

RUN_AT = time(2, 0)                # H4: every day at 02:00 UTC, for every company at once
GRACE = timedelta(hours=24)        # H4: a block only once its cause is 24 h old


def blocking_update(cause_at: datetime) -> datetime:
    """The first daily update at which a cause that began at `cause_at` (the paid period's
    end, the moment the counter went over the limit) is 24 hours old or more: when the block
    comes, if the cause is still there. Between 24 and 48 hours after the cause."""
    due = cause_at.astimezone(UTC) + GRACE
    slot = datetime.combine(due.date(), RUN_AT, UTC)
    return slot if slot >= due else slot + timedelta(days=1)


def company_zone(company_id: int) -> ZoneInfo:
    """The time zone the company works in: that of its business hours (the oldest widget with
    business hours on), else UTC."""
    name = (Widget.objects.filter(company_id=company_id, hours_enabled=True).order_by("pk")
            .values_list("timezone", flat=True).first())
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def in_zone(moment: datetime, zone: ZoneInfo) -> str:
    """'22 April 2026, 04:00 Europe/Paris': a date and time as the company's clock shows it,
    named so nobody has to guess the zone."""
    local = moment.astimezone(zone)
    return f"{local.day} {local:%B %Y, %H:%M} {zone.key}"
