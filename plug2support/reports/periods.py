"""The reports' period (K1): a preset or a custom range of whole days in the company's time
zone, and the period just before it for the comparison. Pure: tested without a database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PRESETS = {"today": "Today", "7d": "Last 7 days", "30d": "Last 30 days",
           "month": "This month", "last_month": "Last month", "custom": "Custom range"}
LONGEST = timedelta(days=731)  # "longer than two years" is refused
EARLIEST = date(2000, 1, 1)  # before the product, and far from datetime's limits


class PeriodError(ValueError):
    """A period the reports refuse, with the sentence the page shows."""


@dataclass(frozen=True)
class Period:
    preset: str
    first_day: date  # local, inclusive
    last_day: date  # local, inclusive
    tz: ZoneInfo

    @property
    def start(self) -> datetime:
        return _midnight(self.first_day, self.tz)

    @property
    def end(self) -> datetime:
        return _midnight(self.last_day + timedelta(days=1), self.tz)

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i)
                for i in range((self.last_day - self.first_day).days + 1)]

    def previous(self) -> Period:
        """The same number of days just before; last month: the whole month before it; this
        month so far: the same days of the month before (1–7 December: 1–7 November)."""
        if self.preset in ("month", "last_month"):
            last = self.first_day - timedelta(days=1)
            if self.preset == "month":
                last = last.replace(day=min(self.last_day.day, last.day))
            return Period("custom", last.replace(day=1), last, self.tz)
        length = self.last_day - self.first_day + timedelta(days=1)
        return Period("custom", self.first_day - length, self.first_day - timedelta(days=1),
                      self.tz)

    def label(self) -> str:
        if self.first_day == self.last_day:
            return self.first_day.isoformat()
        return f"{self.first_day.isoformat()} – {self.last_day.isoformat()}"


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def parse(params: dict[str, str], tz: ZoneInfo, now: datetime) -> Period:
    """From the query (`period`, and `from`/`to` as YYYY-MM-DD for a custom range)."""
    preset = params.get("period") or "7d"
    today = now.astimezone(tz).date()
    if preset == "today":
        return Period(preset, today, today, tz)
    if preset == "7d":
        return Period(preset, today - timedelta(days=6), today, tz)
    if preset == "30d":
        return Period(preset, today - timedelta(days=29), today, tz)
    if preset == "month":
        return Period(preset, today.replace(day=1), today, tz)
    if preset == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return Period(preset, last.replace(day=1), last, tz)
    if preset != "custom":
        raise PeriodError("Choose a period from the list.")
    try:
        first = date.fromisoformat(params.get("from") or "")
        last = date.fromisoformat(params.get("to") or "")
    except ValueError:
        raise PeriodError("Give the range's first and last day as dates (YYYY-MM-DD).") from None
    if first < EARLIEST or last > today + timedelta(days=366):
        raise PeriodError("Pick dates between 1 January 2000 and a year from today.")
    if last < first:
        raise PeriodError("The range ends before it starts: pick an end on or after the start.")
    if last - first >= LONGEST:
        raise PeriodError("A range is at most two years: pick a shorter one.")
    return Period(preset, first, last, tz)
