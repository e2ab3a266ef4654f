"""Counting a target's time in business hours (widgets/hours.Schedule) or wall-clock.

Pure functions of a schedule and aware instants, tested without a database. A schedule that
is always open counts wall-clock; one that never opens again (hours on, no opening hours)
falls back to wall-clock too, so a clock always has a due time (docs/metrics.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

from plug2support.widgets.hours import ALWAYS_OPEN, Schedule

WALL = ALWAYS_OPEN


def counted(schedule: Schedule, start: datetime, end: datetime) -> float:
    """Seconds of [start, end) the schedule is open."""
    if end <= start:
        return 0.0
    if schedule.always:
        return (end - start).total_seconds()
    total = 0.0
    at = start
    is_open = schedule.is_open(at)
    while at < end:
        change = schedule.next_change(at)
        if change is None:
            return total + ((end - at).total_seconds() if is_open else 0.0)
        upto = min(change, end)
        if is_open:
            total += (upto - at).total_seconds()
        at, is_open = upto, not is_open if change <= end else is_open
    return total


def add(schedule: Schedule, start: datetime, seconds: float) -> datetime:
    """The instant when `seconds` of open time have passed since `start`."""
    if seconds <= 0 or schedule.always:
        return start + timedelta(seconds=max(seconds, 0))
    left = seconds
    at = start
    is_open = schedule.is_open(at)
    while True:
        change = schedule.next_change(at)
        if change is None:
            # Open for good, or never open again: wall-clock from here (module docstring).
            return at + timedelta(seconds=left)
        if is_open:
            span = (change - at).total_seconds()
            if span >= left:
                return at + timedelta(seconds=left)
            left -= span
        at, is_open = change, not is_open


def remaining(schedule: Schedule, now: datetime, due_at: datetime) -> float:
    """Seconds of the target left at `now` (negative once past `due_at`)."""
    if now <= due_at:
        return counted(schedule, now, due_at)
    return -counted(schedule, due_at, now)
