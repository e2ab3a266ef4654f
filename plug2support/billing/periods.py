"""Billing periods (H2): from the subscription's anchor date and time to the same date and
time a month later. An anchor on the 29th–31st falls on the last day of a shorter month, and
the next period goes back to the anchor's own day: 31 Jan → 28 Feb → 31 Mar, never 28 Mar.
Every period is counted from the anchor itself (never from the previous period's end), so
a short month never shifts the ones after it."""

from __future__ import annotations

import calendar
from datetime import datetime


def add_months(anchor: datetime, months: int) -> datetime:
    """The anchor moved by `months` calendar months, its day clamped to the month's length."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    day = min(anchor.day, calendar.monthrange(year, month + 1)[1])
    return anchor.replace(year=year, month=month + 1, day=day)


def period_index(anchor: datetime, moment: datetime) -> int:
    """Which period (0 = the one starting at the anchor) holds `moment`; negative before it."""
    months = (moment.year - anchor.year) * 12 + (moment.month - anchor.month)
    # The month difference is right or one too many (the day and time of the month not yet
    # reached); never one too few.
    if add_months(anchor, months) > moment:
        months -= 1
    return months


def period_at(anchor: datetime, moment: datetime) -> tuple[datetime, datetime]:
    """The billing period [start, end) that holds `moment`."""
    index = period_index(anchor, moment)
    return add_months(anchor, index), add_months(anchor, index + 1)
