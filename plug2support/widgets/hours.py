"""Business hours (C6): is a widget's team open at a given instant, and when does that change?

Pure functions of a schedule and an aware instant, so daylight-saving days and holidays are
tested without a database. Times are wall-clock times in the widget's time zone: a team that
opens at 09:00 opens at 09:00 local on both sides of a DST change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@dataclass(frozen=True)
class Schedule:
    tz: ZoneInfo
    # weekday (0 = Monday) → opening intervals [opens, closes) in local wall-clock time
    weekly: Mapping[int, Sequence[tuple[time, time]]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    # No business hours set: open at every instant (presence alone decides).
    always: bool = False

    def is_open(self, at: datetime) -> bool:
        if self.always:
            return True
        local = at.astimezone(self.tz)
        if local.date() in self.holidays:
            return False
        now = local.time().replace(tzinfo=None)
        return any(opens <= now < closes for opens, closes in self.weekly.get(local.weekday(), ()))

    def next_change(self, at: datetime, days: int = 400) -> datetime | None:
        """The first instant after `at` when is_open flips, or None if it never does."""
        if self.always:
            return None
        state = self.is_open(at)
        start = at.astimezone(self.tz).date()
        for offset in range(days):
            day = start + timedelta(days=offset)
            if day in self.holidays and not state:
                continue
            for boundary in self._boundaries(day):
                if boundary > at and self.is_open(boundary) != state:
                    return boundary
            if day in self.holidays or day.weekday() not in self.weekly:
                # A closed day: the day after may open at midnight.
                midnight = _local(day + timedelta(days=1), time(0), self.tz)
                if midnight > at and self.is_open(midnight) != state:
                    return midnight
        return None

    def changes(self, at: datetime, count: int = 16, days: int = 8) -> list[datetime]:
        """The next `count` instants after `at` when is_open flips (within `days`): a page
        shows the right open/closed state for a week without asking again."""
        found: list[datetime] = []
        while len(found) < count:
            change = self.next_change(found[-1] if found else at, days=days)
            if change is None:
                break
            found.append(change)
        return found

    def _boundaries(self, day: date) -> list[datetime]:
        points = [_local(day + timedelta(days=1), time(0), self.tz)]
        for opens, closes in self.weekly.get(day.weekday(), ()):
            points += [_local(day, opens, self.tz), _local(day, closes, self.tz)]
        return sorted(points)


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    # A wall-clock time that does not exist (skipped by a spring-forward) resolves to the
    # same distance after the change, as zoneinfo does with fold=0.
    return datetime.combine(day, at, tzinfo=tz)


ALWAYS_OPEN = Schedule(tz=ZoneInfo("UTC"), always=True)
