"""Issue 15.14 (H5, H9): what the alerts say is true — percentages that never contradict the
alert's condition, the actual date and time of the update that will block (in the company's
time zone), renewal invoices with a minimum lead, and every traffic block announced."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import time_machine

from plug2support.billing import actions as billing
from plug2support.billing.alerts import percent_text, send_once
from plug2support.billing.models import AlertCause, Subscription
from plug2support.billing.moments import blocking_update
from plug2support.notifications.models import Notification
from plug2support.widgets.models import Widget

from .conftest import Inbox, Tenant, body_of
from .test_billing import at, blocked, daily, on_plan, subject, visitors_write

# --- figures (a) ----------------------------------------------------------------------------


@pytest.mark.parametrize(("part", "whole", "text"), [
    (181, 200, "90.5"),    # above 90 %: never "90"
    (199, 200, "99.5"),    # below 100 %: never "100"
    (1999, 2000, "99.9"),  # truncated, not rounded up
    (1801, 2000, "90.05"),  # one decimal would read 90: as many as it takes
    (19, 20, "95"),
    (200, 200, "100"),
    (201, 200, "100.5"),
    (2, 3, "66.6"),
    (0, 200, "0"),
    (5, 0, "0"),
])
def test_a_percentage_is_truncated_and_never_reads_as_a_threshold_it_is_not(
        part: int, whole: int, text: str) -> None:
    assert percent_text(part, whole) == text


def alert_of(tenant: Tenant, traffic: int, limit: int, cause: str, smtp: Inbox,
             when: Any = None) -> str:
    """The alert e-mail sent for `traffic` of `limit` (both its parts, text then HTML)."""
    sub = on_plan(tenant, limit=limit, anchor=at(2026, 3, 1, 8))
    Subscription.objects.filter(pk=sub.pk).update(traffic=traffic)
    sub.refresh_from_db()
    with time_machine.travel(when or at(2026, 3, 10, 2), tick=False):
        assert send_once(sub, cause, sub.period_start)
    [message] = smtp.messages[-1:]
    return body_of(message) + body_of(message, "html")


def test_181_of_200_is_said_as_90_5_percent_under_above_90_percent(
        acme: Tenant, smtp: Inbox) -> None:
    body = alert_of(acme, 181, 200, AlertCause.TRAFFIC_90, smtp)
    assert "181 of 200" in body and "(90.5 %)" in body and "(90 %)" not in body


def test_199_of_200_is_said_as_99_5_percent_not_100(acme: Tenant, smtp: Inbox) -> None:
    body = alert_of(acme, 199, 200, AlertCause.TRAFFIC_90, smtp)
    assert "(99.5 %)" in body and "100 %" not in body


# --- when the block comes (b) ---------------------------------------------------------------

def test_the_block_comes_at_the_first_02_00_update_24_hours_or_more_after_its_cause() -> None:
    assert blocking_update(at(2026, 3, 10, 3)) == at(2026, 3, 12, 2)   # 47 h later
    assert blocking_update(at(2026, 3, 10, 1)) == at(2026, 3, 11, 2)   # 25 h later
    assert blocking_update(at(2026, 3, 10, 2)) == at(2026, 3, 11, 2)   # exactly 24 h
    assert blocking_update(at(2026, 5, 10, 14, 11)) == at(2026, 5, 12, 2)


def test_payment_alerts_say_when_chat_will_be_blocked_in_the_companys_time_zone(
        acme: Tenant, globex: Tenant, smtp: Inbox) -> None:
    # Acme's team works on Paris time (its widget's business hours); Globex has none: UTC.
    Widget.objects.filter(company=acme.company).update(hours_enabled=True,
                                                       timezone="Europe/Paris")
    on_plan(acme, anchor=at(2026, 1, 20, 10), paid_until=at(2026, 4, 20, 14, 11))
    on_plan(globex, anchor=at(2026, 1, 20, 10), paid_until=at(2026, 4, 20, 14, 11))
    daily(date(2026, 4, 17))
    by_owner = {m["To"]: body_of(m) + body_of(m, "html") for m in smtp.messages}
    paris, utc = by_owner[acme.owner.email], by_owner[globex.owner.email]
    # Paid until 20 April 14:11 UTC; blocked by the update of 22 April 02:00 UTC (35 h 49 min
    # after), which is 04:00 in Paris (summer time).
    assert "20 April 2026, 16:11 Europe/Paris" in paris
    assert "22 April 2026, 04:00 Europe/Paris" in paris
    assert "22 April 2026, 02:00 UTC" in utc
    assert "24 hours after" not in paris + utc
    daily(date(2026, 4, 21))
    assert blocked(acme, at(2026, 4, 21, 23, 59)) is None  # not 24 hours after, as once said
    daily(date(2026, 4, 22))
    assert blocked(acme, at(2026, 4, 22, 2, 1)) == "payment"  # when the e-mail said


def test_the_limit_alert_says_when_the_block_comes_or_that_the_period_ends_first(
        acme: Tenant, globex: Tenant, smtp: Inbox) -> None:
    on_plan(acme, limit=2, anchor=at(2026, 3, 1, 8))
    on_plan(globex, limit=2, anchor=at(2026, 3, 1, 8))
    visitors_write(acme, 3, at(2026, 3, 10, 3))    # over from 10 March 03:00
    visitors_write(globex, 3, at(2026, 3, 31, 9))  # over from 31 March 09:00; ends 1 April 08:00
    daily(date(2026, 3, 11))
    daily(date(2026, 4, 1))
    texts = {m["To"]: body_of(m) + body_of(m, "html") for m in smtp.messages
             if "reached" in subject(m)}
    assert "12 March 2026, 02:00 UTC" in texts[acme.owner.email]
    assert "1 April 2026, 08:00 UTC" in texts[globex.owner.email]
    assert "before the block would come" in texts[globex.owner.email]
    assert "for 24 hours" not in texts[acme.owner.email] + texts[globex.owner.email]


# --- every block announced (d) --------------------------------------------------------------

def test_a_second_traffic_block_in_the_same_period_is_announced_too_once(
        acme: Tenant, globex: Tenant) -> None:
    on_plan(acme, limit=2, anchor=at(2026, 3, 1, 8))
    on_plan(globex, limit=2, anchor=at(2026, 3, 1, 8))
    everyone = {acme.owner.pk, *(u.pk for u in acme.operators)}

    def announced() -> list[int]:
        return sorted(Notification.objects.filter(
            kind="billing", title__contains="traffic limit").values_list("user_id", flat=True))

    visitors_write(acme, 3, at(2026, 3, 10, 3))
    daily(date(2026, 3, 12))
    assert blocked(acme, at(2026, 3, 12, 3)) == "traffic" and announced() == sorted(everyone)
    with time_machine.travel(at(2026, 3, 12, 3), tick=False):
        billing.do_add_boost(acme.company.pk, 2)  # lifts it: 3 of 4
    assert blocked(acme, at(2026, 3, 12, 4)) is None
    visitors_write(acme, 2, at(2026, 3, 12, 9))  # 5 of 4: over again from 09:00
    daily(date(2026, 3, 13))  # 17 hours over: not yet
    assert blocked(acme, at(2026, 3, 13, 3)) is None and len(announced()) == 3
    daily(date(2026, 3, 14))  # blocked again: everyone hears of it again
    assert blocked(acme, at(2026, 3, 14, 3)) == "traffic"
    assert announced() == sorted([*everyone, *everyone])
    daily(date(2026, 3, 15))
    daily(date(2026, 3, 15))
    assert len(announced()) == 6  # the same block: once
    assert not Notification.objects.filter(company=globex.company).exists()


def test_a_block_announced_before_the_per_block_key_is_not_announced_again(
        acme: Tenant) -> None:
    """Migration billing/0005 gives the alert of a block in force its per-block key."""
    from importlib import import_module

    from django.apps import apps

    from plug2support.billing.models import Alert

    migration = import_module("plug2support.billing.migrations.0005_traffic_block_alert_per_block")
    on_plan(acme, limit=2, anchor=at(2026, 3, 1, 8))
    visitors_write(acme, 3, at(2026, 3, 10, 3))
    daily(date(2026, 3, 12))
    # As the previous release stored it: keyed by the billing period.
    Alert.objects.filter(cause=AlertCause.TRAFFIC_BLOCKED).update(period=at(2026, 3, 1, 8))
    migration.key_current_blocks_by_their_moment(apps, None)
    daily(date(2026, 3, 13))
    assert Notification.objects.filter(title__contains="traffic limit").count() == 3
