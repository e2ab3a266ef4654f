"""The subscription update (H4), run by ops/periodic.py at 02:00 UTC each day for every
company at once, in the seed's order: (1) payment check, (2) statistics, (3) counter update,
(4) limit check; then the alerts (H5) the new state calls for.

Everything is decided as of the slot (02:00 of its day), from the data — the messages before
that moment, the paid period and limits as they are when it runs — so a run is deterministic
for its day: a second run of the same day, or two workers running it at once, write the same
values, and the alerts' unique constraint lets each alert out once. A day missed while every
worker was down is run later as of its own 02:00 (periodic.py catches up oldest first).

Never backwards: a day older than the newest one started (DailyUpdateMark) changes nothing.
It is refused before it reads anything (OlderDay: the scheduler records the slot as skipped,
`manage.py billing_daily_update` says why and exits non-zero); one that a newer day overtook
while it ran writes no row that the newer day wrote (each UPDATE is conditional on the row's
last_update) and sends nothing.

Cost: a handful of statements for all companies — the subscriptions read once, the counter
of every company in one aggregate (billing/traffic.py), the changed rows written in batches —
not a loop of queries per company (bench/billing_daily.py: 100 000 companies).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from plug2support.accounts.models import Company

from . import alerts
from .access import block_changed, free_plan, new_subscription, traffic_level, traffic_limit
from .models import Alert, AlertCause, DailyUpdateMark, Subscription, TrafficStat
from .moments import GRACE, RUN_AT
from .periods import period_at
from .traffic import count_traffic

log = logging.getLogger(__name__)

BATCH = 1000
WRITE_BATCH = 20_000
FIELDS = ["period_start", "traffic", "over_limit_since", "traffic_blocked_period",
          "payment_blocked", "last_update"]


class OlderDay(Exception):
    """The day asked for is older than the newest one already applied (or being applied)."""

    def __init__(self, day: date, newest: date) -> None:
        super().__init__(
            f"The daily update of {day.isoformat()} is older than the last one applied "
            f"({newest.isoformat()}): applying it would roll every subscription back to that "
            "day, so nothing was changed.")
        self.day, self.newest = day, newest


@dataclass
class Outcome:
    companies: int = 0
    new_periods: int = 0
    blocked_for_traffic: int = 0
    blocked_for_payment: int = 0
    alerts: dict[str, int] = field(default_factory=dict)


def run_daily_update(slot: datetime) -> dict[str, Any]:
    """The periodic job's entry point: the update of the slot's day. An older day than the
    last applied one is done with (skipped), not retried after every lease."""
    try:
        outcome = update_subscriptions(slot.astimezone(UTC).date())
    except OlderDay as older:
        log.warning("%s", older)
        return {"skipped": str(older)}
    return {"companies": outcome.companies, "new_periods": outcome.new_periods,
            "blocked_for_traffic": outcome.blocked_for_traffic,
            "blocked_for_payment": outcome.blocked_for_payment, "alerts": outcome.alerts}


def _ensure_subscriptions(at: datetime) -> None:
    """Companies made before `at` without a subscription get the Free one (H1), as
    access.subscription_of would make on first use."""
    missing = Company.objects.filter(created_at__lt=at).filter(
        ~Exists(Subscription.objects.filter(company_id=OuterRef("pk"))))
    plan = free_plan()
    rows = [new_subscription(pk, created, at, plan)
            for pk, created in missing.values_list("pk", "created_at")]
    Subscription.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)


def _start(day: date) -> None:
    """Mark `day` as the newest day started, or raise OlderDay. The row is locked while it is
    read and moved, so of two days started at once the older one sees the newer."""
    with transaction.atomic():
        mark, made = DailyUpdateMark.objects.select_for_update().get_or_create(
            pk=1, defaults={"day": day, "started_at": timezone.now()})
        if mark.day > day:
            raise OlderDay(day, mark.day)
        if not made:
            mark.day, mark.started_at = day, timezone.now()
            mark.save(update_fields=["day", "started_at"])


def _overtaken(day: date) -> bool:
    return DailyUpdateMark.objects.filter(pk=1, day__gt=day).exists()


def update_subscriptions(day: date) -> Outcome:
    """The update of `day` (as of its 02:00); the same day again changes nothing, an older
    day than the newest one started raises OlderDay."""
    _start(day)
    at = datetime.combine(day, RUN_AT, UTC)
    _ensure_subscriptions(at)
    subscriptions = list(Subscription.objects.select_related("plan").filter(
        company__created_at__lt=at).order_by("pk"))
    outcome = Outcome(companies=len(subscriptions))

    # The period each subscription is in at `at`. A new one starts the counter again (step 3
    # "reset on the first day of a new billing period": the count below is of the new period
    # only) and forgets the old period's limit state.
    moved = []
    for sub in subscriptions:
        start, _ = period_at(sub.anchor, at)
        if start != sub.period_start:
            sub.period_start = start
            sub.traffic, sub.over_limit_since, sub.traffic_blocked_period = 0, None, None
            moved.append(sub)
    outcome.new_periods = len(moved)
    with transaction.atomic():
        _write(moved, day)

    counted = count_traffic(at)  # step 2, statistics: every company in one statement
    to_alert: list[tuple[Subscription, str, datetime]] = []
    changed: list[Subscription] = []
    announce: list[int] = []
    for sub in subscriptions:
        before = [getattr(sub, name) for name in FIELDS]
        blocked_before = _blocked(sub)
        # (1) Payment check: a paid period over for 24 h or more blocks.
        if sub.plan.is_paid and sub.paid_until is not None:
            sub.payment_blocked = at - sub.paid_until >= GRACE
            days_left = (sub.paid_until.astimezone(UTC).date() - day).days
            if days_left == 3:
                to_alert.append((sub, AlertCause.PAYMENT_3_DAYS, sub.paid_until))
            elif days_left == 0:
                to_alert.append((sub, AlertCause.PAYMENT_TODAY, sub.paid_until))
            if sub.payment_blocked:
                to_alert.append((sub, AlertCause.PAYMENT_BLOCKED, sub.paid_until))
        else:
            sub.payment_blocked = False
        # (2, 3) Statistics and the counter.
        found = counted.get(sub.company_id)
        sub.traffic = found.interlocutors if found else 0
        # (4) Limit check: over the limit for 24 h or more blocks, for this period.
        limit = traffic_limit(sub, sub.period_start)
        sub.over_limit_since = found.over_limit_since if found else None
        over_for_a_day = sub.over_limit_since is not None and at - sub.over_limit_since >= GRACE
        sub.traffic_blocked_period = sub.period_start if over_for_a_day else None
        if over_for_a_day and sub.over_limit_since is not None:
            # Announced once per block, not per period: a block is known by the moment the
            # counter went over the limit that caused it, so a second block after a boost
            # lifted the first (a later moment, over the higher limit) is announced too.
            to_alert.append((sub, AlertCause.TRAFFIC_BLOCKED, sub.over_limit_since))
        level = traffic_level(sub.traffic, limit)
        if level != "ok":
            to_alert.append((sub, AlertCause.TRAFFIC_100 if level == "red"
                             else AlertCause.TRAFFIC_90, sub.period_start))
        sub.last_update = day
        outcome.blocked_for_traffic += over_for_a_day
        outcome.blocked_for_payment += sub.payment_blocked
        if [getattr(sub, name) for name in FIELDS] != before:
            changed.append(sub)
        if _blocked(sub) != blocked_before:
            announce.append(sub.company_id)

    if _overtaken(day):
        # A newer day started while this one counted: its state stands (the conditional
        # writes below would skip its rows anyway); nothing of this day is written or sent.
        log.warning("the daily update of %s was overtaken by a newer day; nothing written", day)
        return outcome
    with transaction.atomic():
        _write(changed, day)
        TrafficStat.objects.bulk_create(
            [TrafficStat(company_id=sub.company_id, day=day, period_start=sub.period_start,
                         interlocutors=sub.traffic) for sub in subscriptions if sub.traffic],
            batch_size=BATCH, update_conflicts=True, unique_fields=["company", "day"],
            update_fields=["period_start", "interlocutors"])
    for company_id in announce:
        block_changed(company_id)
    # Most candidates were sent on an earlier day (a block lasts): one read skips them; the
    # unique constraint still decides for the rest.
    sent = set(Alert.objects.filter(period__gte=min(p for _, _, p in to_alert)).values_list(
        "company_id", "cause", "period")) if to_alert else set()
    for sub, cause, period in to_alert:
        if (sub.company_id, cause, period) in sent:
            continue
        if alerts.send_once(sub, cause, period):
            outcome.alerts[cause] = outcome.alerts.get(cause, 0) + 1
    return outcome


def _write(subscriptions: list[Subscription], day: date) -> None:
    """FIELDS of these rows, in a few statements: Django's bulk_update builds a CASE per
    field and row, which cost most of a 100 000-company run (bench/billing_daily.py). A row
    a newer day has written (last_update after `day`) is left as it is."""
    table = Subscription._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    newest = connection.ops.adapt_datefield_value(day)
    rows = [(adapt(s.period_start), s.traffic, adapt(s.over_limit_since),
             adapt(s.traffic_blocked_period), s.payment_blocked,
             connection.ops.adapt_datefield_value(s.last_update), s.pk, newest)
            for s in subscriptions]
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.executemany(
                f"UPDATE {table} SET period_start = %s, traffic = %s, "  # noqa: S608
                "over_limit_since = %s, traffic_blocked_period = %s, payment_blocked = %s, "
                "last_update = %s WHERE id = %s AND (last_update IS NULL OR last_update <= %s)",
                rows)
            return
        for start in range(0, len(rows), WRITE_BATCH):
            columns = list(zip(*[row[:-1] for row in rows[start:start + WRITE_BATCH]],
                               strict=True))
            cursor.execute(
                f"UPDATE {table} AS s SET period_start = v.p, traffic = v.t, "  # noqa: S608
                "over_limit_since = v.o, traffic_blocked_period = v.b, payment_blocked = v.pb,"
                " last_update = v.d FROM unnest(%s::timestamptz[], %s::int[], "
                "%s::timestamptz[], %s::timestamptz[], %s::bool[], %s::date[], %s::bigint[]) "
                "AS v(p, t, o, b, pb, d, id) WHERE s.id = v.id "
                "AND (s.last_update IS NULL OR s.last_update <= %s)",
                [*(list(c) for c in columns), newest])


def _blocked(sub: Subscription) -> tuple[bool, bool]:
    return sub.payment_blocked, sub.traffic_blocked_period is not None


