"""Issue 15.11 (H4): a daily update of a day older than the last one applied changes nothing —
a slot taken over after its lease, a slow run that a newer day overtook, or a manual re-run
of a past day (refused with a clear message)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command

from plug2support.billing import daily as daily_module
from plug2support.billing.daily import update_subscriptions
from plug2support.billing.models import Alert, Subscription
from plug2support.notifications.models import Notification
from plug2support.ops import periodic
from plug2support.ops.models import PeriodicRun

from .conftest import Tenant
from .test_billing import at, blocked, daily, on_plan, snapshot, state, visitors_write


def over_the_limit_since_10_march(acme: Tenant, globex: Tenant) -> None:
    """Acme is 1 over its limit from 03:00 on 10 March (blocked by the update of the 12th);
    Globex's paid period ended on 10 March 08:00 (blocked for payment on the 12th)."""
    on_plan(acme, limit=2, anchor=at(2026, 3, 1, 8))
    on_plan(globex, limit=5, anchor=at(2026, 3, 1, 8), paid_until=at(2026, 3, 10, 8))
    visitors_write(acme, 3, at(2026, 3, 10, 3))
    visitors_write(globex, 1, at(2026, 3, 10, 3))


def test_a_slot_taken_over_after_its_lease_once_a_newer_day_is_applied_changes_nothing(
        acme: Tenant, globex: Tenant) -> None:
    over_the_limit_since_10_march(acme, globex)
    # The 11th's run failed (its worker died, or it raised): the slot waits for its lease.
    PeriodicRun.objects.create(job="billing.daily_update", slot=at(2026, 3, 11, 2),
                               claimed_by="dead", claimed_at=at(2026, 3, 12, 1, 50))
    daily(date(2026, 3, 12))
    PeriodicRun.objects.create(job="billing.daily_update", slot=at(2026, 3, 12, 2),
                               claimed_by="alive", claimed_at=at(2026, 3, 12, 2),
                               finished_at=at(2026, 3, 12, 2, 1))
    assert blocked(acme, at(2026, 3, 12, 3)) == "traffic"
    assert blocked(globex, at(2026, 3, 12, 3)) == "payment"
    newest = snapshot()

    # After the lease, a worker takes the 11th over: as of the 11th nobody was blocked yet.
    with time_machine.travel(at(2026, 3, 12, 2, 10), tick=False):
        assert periodic.tick(jobs=periodic.JOBS[:1]) == [
            ("billing.daily_update", at(2026, 3, 11, 2))]
    assert snapshot() == newest
    assert state(acme).last_update == date(2026, 3, 12)
    assert blocked(acme, at(2026, 3, 12, 3)) == "traffic"
    assert blocked(globex, at(2026, 3, 12, 3)) == "payment"
    run = PeriodicRun.objects.get(slot=at(2026, 3, 11, 2))
    assert run.finished_at is not None  # done with: not taken over again and again
    assert "2026-03-12" in run.result["skipped"]


def subscription_rows() -> list[Any]:
    return list(Subscription.objects.order_by("pk").values_list(
        "company_id", "period_start", "traffic", "over_limit_since", "traffic_blocked_period",
        "payment_blocked", "last_update"))


@pytest.mark.parametrize("when", ["while it counts", "after its last check"])
def test_an_older_day_that_a_newer_one_overtook_while_it_ran_writes_nothing(
        acme: Tenant, globex: Tenant, monkeypatch: Any, when: str) -> None:
    """Another worker applies the 12th while the 11th's run is still going: as it counts
    the traffic, or just after it last looked for a newer day (then only the conditional
    writes stand between it and the 12th's rows)."""
    over_the_limit_since_10_march(acme, globex)
    overtaken: list[Any] = []
    name = "count_traffic" if when == "while it counts" else "_overtaken"
    real = getattr(daily_module, name)

    def overtake(arg: Any) -> Any:
        if not overtaken:
            monkeypatch.setattr(daily_module, name, real)
            daily(date(2026, 3, 12))
            overtaken.extend(subscription_rows())
        return real(arg) if name == "count_traffic" else False

    monkeypatch.setattr(daily_module, name, overtake)
    with time_machine.travel(at(2026, 3, 11, 2, 1), tick=False):
        update_subscriptions(date(2026, 3, 11))
    assert overtaken and subscription_rows() == overtaken
    assert (state(acme).traffic_blocked_period, state(globex).payment_blocked) == (
        at(2026, 3, 1, 8), True)


def test_a_manual_run_of_a_past_day_is_refused_with_a_clear_message(
        acme: Tenant, globex: Tenant) -> None:
    over_the_limit_since_10_march(acme, globex)
    daily(date(2026, 3, 12))
    newest = snapshot()
    with time_machine.travel(at(2026, 3, 12, 9), tick=False):
        with pytest.raises(CommandError, match=(
                r"2026-03-11 is older than the last one applied \(2026-03-12\)")):
            call_command("billing_daily_update", "--day", "2026-03-11")
        with pytest.raises(CommandError, match="not due before 2026-03-13 02:00 UTC"):
            call_command("billing_daily_update", "--day", "2026-03-13")
        with pytest.raises(CommandError, match="YYYY-MM-DD"):
            call_command("billing_daily_update", "--day", "12/03/2026")
    assert snapshot() == newest
    assert Alert.objects.filter(company=acme.company).count() == 2
    # The last day applied may be run again (it changes nothing), and a newer one.
    with time_machine.travel(at(2026, 3, 13, 2, 1), tick=False):
        call_command("billing_daily_update", "--day", "2026-03-12")
        assert snapshot() == newest
        call_command("billing_daily_update")  # today's, the 13th
    assert state(acme).last_update == date(2026, 3, 13)
    assert Notification.objects.filter(company=acme.company).count() == 3  # the block, once
