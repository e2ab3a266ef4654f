"""Business hours across time zones, daylight-saving changes and holidays (C6)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import time_machine

from plug2support.widgets.hours import Schedule

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_TO_5 = {d: ((time(9), time(17)),) for d in range(5)}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_open_during_local_hours_and_closed_outside_them() -> None:
    paris = Schedule(PARIS, WEEKDAYS_9_TO_5)
    # Wednesday 14 Jan 2026: Paris is UTC+1.
    assert not paris.is_open(utc(2026, 1, 14, 7, 59))
    assert paris.is_open(utc(2026, 1, 14, 8, 0))  # 09:00 in Paris
    assert paris.is_open(utc(2026, 1, 14, 15, 59))
    assert not paris.is_open(utc(2026, 1, 14, 16, 0))  # 17:00 in Paris
    assert not paris.is_open(utc(2026, 1, 17, 10, 0))  # Saturday


def test_the_same_instant_is_open_in_one_zone_and_closed_in_another() -> None:
    instant = utc(2026, 1, 14, 15, 0)  # 16:00 Paris, 10:00 New York
    assert Schedule(PARIS, WEEKDAYS_9_TO_5).is_open(instant)
    assert Schedule(NEW_YORK, WEEKDAYS_9_TO_5).is_open(instant)
    late = utc(2026, 1, 14, 21, 0)  # 22:00 Paris, 16:00 New York
    assert not Schedule(PARIS, WEEKDAYS_9_TO_5).is_open(late)
    assert Schedule(NEW_YORK, WEEKDAYS_9_TO_5).is_open(late)


def test_opening_stays_at_nine_local_across_the_spring_forward() -> None:
    paris = Schedule(PARIS, WEEKDAYS_9_TO_5)
    # Clocks go forward on Sunday 29 March 2026: Friday 27th is UTC+1, Monday 30th UTC+2.
    assert paris.is_open(utc(2026, 3, 27, 8, 0)) and not paris.is_open(utc(2026, 3, 27, 7, 59))
    assert paris.is_open(utc(2026, 3, 30, 7, 0)) and not paris.is_open(utc(2026, 3, 30, 6, 59))


def test_opening_stays_at_nine_local_across_the_fall_back_in_new_york() -> None:
    ny = Schedule(NEW_YORK, WEEKDAYS_9_TO_5)
    # Clocks go back on Sunday 1 November 2026: Friday 30 Oct is UTC-4, Monday 2 Nov UTC-5.
    assert ny.is_open(utc(2026, 10, 30, 13, 0)) and not ny.is_open(utc(2026, 10, 30, 12, 59))
    assert ny.is_open(utc(2026, 11, 2, 14, 0)) and not ny.is_open(utc(2026, 11, 2, 13, 59))


def test_hours_inside_the_skipped_and_repeated_night_hours() -> None:
    night = Schedule(PARIS, {6: ((time(1), time(4)),)})  # Sundays 01:00–04:00 Paris
    # 29 March 2026: 02:00 → 03:00 is skipped; the team is open 01:00–04:00 wall time,
    # which is two real hours (00:00–02:00 UTC).
    assert night.is_open(utc(2026, 3, 29, 0, 30))
    assert night.is_open(utc(2026, 3, 29, 1, 30))  # 03:30 CEST
    assert not night.is_open(utc(2026, 3, 29, 2, 0))  # 04:00 CEST
    # 25 October 2026: 03:00 → 02:00 repeats an hour; 01:00–04:00 is four real hours.
    assert night.is_open(utc(2026, 10, 24, 23, 0))  # 01:00 CEST
    assert night.is_open(utc(2026, 10, 25, 2, 30))  # 03:30 CET
    assert not night.is_open(utc(2026, 10, 25, 3, 0))  # 04:00 CET


def test_a_holiday_closes_a_working_day_in_local_time() -> None:
    paris = Schedule(PARIS, WEEKDAYS_9_TO_5, holidays=frozenset({date(2026, 12, 25)}))
    assert not paris.is_open(utc(2026, 12, 25, 10, 0))  # Friday, Christmas
    assert paris.is_open(utc(2026, 12, 24, 10, 0))
    # 23:30 UTC on the 24th is already the 25th in Paris: a holiday there.
    evening = Schedule(PARIS, {d: ((time(0), time(23, 59)),) for d in range(7)},
                       holidays=frozenset({date(2026, 12, 25)}))
    assert not evening.is_open(utc(2026, 12, 24, 23, 30))
    assert evening.is_open(utc(2026, 12, 24, 22, 30))


def test_next_change_skips_weekends_and_holidays() -> None:
    paris = Schedule(PARIS, WEEKDAYS_9_TO_5, holidays=frozenset({date(2026, 12, 28)}))
    # Friday 25 Dec 18:00 Paris → closed until Tuesday 29 Dec 09:00 (Monday is a holiday).
    assert paris.next_change(utc(2026, 12, 25, 17, 0)) == utc(2026, 12, 29, 8, 0)
    # While open, the next change is today's closing time.
    assert paris.next_change(utc(2026, 12, 29, 9, 0)) == utc(2026, 12, 29, 16, 0)


def test_next_change_over_a_dst_weekend() -> None:
    paris = Schedule(PARIS, WEEKDAYS_9_TO_5)
    # Friday 27 March 17:00 CET → Monday 30 March 09:00 CEST (07:00 UTC).
    assert paris.next_change(utc(2026, 3, 27, 16, 0)) == utc(2026, 3, 30, 7, 0)


def test_a_schedule_with_no_hours_is_never_open() -> None:
    closed = Schedule(PARIS, {})
    assert not closed.is_open(utc(2026, 5, 5, 10, 0))
    assert closed.next_change(utc(2026, 5, 5, 10, 0), days=30) is None


@time_machine.travel(datetime(2026, 3, 29, 0, 30, tzinfo=UTC), tick=False)
def test_is_open_now_follows_the_clock() -> None:
    from django.utils import timezone

    night = Schedule(PARIS, {6: ((time(1), time(4)),)})
    assert night.is_open(timezone.now())


def test_the_changes_of_a_week_alternate_opening_and_closing() -> None:
    paris = Schedule(PARIS, WEEKDAYS_9_TO_5)
    # From Thursday 14 Jan 2026 10:00 Paris (open): closes 17:00, Friday 09:00–17:00, then
    # Monday; nothing after the week asked for.
    changes = paris.changes(utc(2026, 1, 15, 9, 0), days=8)
    assert changes[:4] == [utc(2026, 1, 15, 16, 0), utc(2026, 1, 16, 8, 0),
                           utc(2026, 1, 16, 16, 0), utc(2026, 1, 19, 8, 0)]
    assert [paris.is_open(c) for c in changes] == [i % 2 == 1 for i in range(len(changes))]
    assert Schedule(PARIS, always=True).changes(utc(2026, 1, 15)) == []
