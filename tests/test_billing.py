"""Plans, billing periods, the traffic counter, the daily subscription update and its blocks
and alerts (H1–H7), walked through months with time-machine, with two companies."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from email.header import decode_header, make_header
from typing import Any

import pytest
import time_machine

from plug2support.accounts import actions as account_actions
from plug2support.accounts.actions import AccountError
from plug2support.accounts.models import Company, Membership, Role
from plug2support.billing import actions as billing
from plug2support.billing.access import communication_block, standard_plan, subscription_of
from plug2support.billing.daily import update_subscriptions
from plug2support.billing.models import Alert, Plan, PlanKind, Subscription, TrafficStat
from plug2support.billing.periods import add_months, period_at
from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.messages import (
    do_post_operator_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.teamwork import do_claim
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation
from plug2support.notifications.models import Notification
from plug2support.ops import periodic
from plug2support.ops.models import PeriodicRun
from plug2support.realtime.presence import availability_of

from .conftest import Inbox, Tenant, body_of


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
       second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def on_plan(tenant: Tenant, *, limit: int = 3, anchor: datetime, paid_until: datetime | None
            = None, kind: str = PlanKind.CUSTOM) -> Subscription:
    """The tenant on a plan of its own (a Custom agreement, small limit), anchored."""
    plan = Plan.objects.create(code=f"custom-{tenant.company.pk}-{limit}", name="Custom",
                               kind=kind, traffic_limit=limit, invited_users_limit=10)
    subscription = subscription_of(tenant.company.pk)
    # The company is as old as its anchor, whatever today's date (the update skips companies
    # made after its slot).
    Company.objects.filter(pk=tenant.company.pk).update(created_at=anchor)
    Subscription.objects.filter(pk=subscription.pk).update(
        plan=plan, anchor=anchor, period_start=period_at(anchor, anchor)[0],
        paid_until=paid_until)
    return Subscription.objects.select_related("plan").get(pk=subscription.pk)


def visitors_write(tenant: Tenant, count: int, when: datetime) -> list[Any]:
    """`count` new visitors each send a message at `when`."""
    written = []
    with time_machine.travel(when, tick=False):
        for _ in range(count):
            visitor, _ = do_identify_visitor(tenant.widget, None)
            do_post_visitor_message(visitor, client_id="first", body="Hello")
            written.append(visitor)
    return written


def daily(day: date) -> None:
    """The update of `day`, run at 02:00 UTC of that day plus a minute."""
    with time_machine.travel(datetime(day.year, day.month, day.day, 2, 1, tzinfo=UTC),
                             tick=False):
        update_subscriptions(day)


def subject(message: Any) -> str:
    return str(make_header(decode_header(message["Subject"])))


def blocked(tenant: Tenant, when: datetime) -> str | None:
    with time_machine.travel(when, tick=False):
        return communication_block(tenant.company.pk)


def state(tenant: Tenant) -> Subscription:
    return Subscription.objects.get(company=tenant.company)


# --- periods (H2) --------------------------------------------------------------------------

def test_the_seeds_period_runs_from_14_11_on_15_october_to_14_11_on_15_november() -> None:
    anchor = at(2026, 10, 15, 14, 11)
    assert period_at(anchor, at(2026, 11, 15, 14, 10, 59)) == (anchor, at(2026, 11, 15, 14, 11))
    assert period_at(anchor, at(2026, 11, 15, 14, 11)) == (at(2026, 11, 15, 14, 11),
                                                           at(2026, 12, 15, 14, 11))
    assert period_at(anchor, at(2027, 2, 1)) == (at(2027, 1, 15, 14, 11), at(2027, 2, 15, 14, 11))


def test_a_31_january_anchor_falls_on_the_last_day_of_short_months_and_stays_the_31st() -> None:
    anchor = at(2027, 1, 31, 9, 30)
    assert [add_months(anchor, k).date() for k in range(5)] == [
        date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30),
        date(2027, 5, 31)]
    assert add_months(at(2028, 1, 31), 1).date() == date(2028, 2, 29)  # a leap year
    assert period_at(anchor, at(2027, 3, 1)) == (at(2027, 2, 28, 9, 30), at(2027, 3, 31, 9, 30))


# --- plans (H1, H7) -------------------------------------------------------------------------

def test_a_new_company_starts_on_free_anchored_when_it_signed_up(db: Any) -> None:
    with time_machine.travel(at(2026, 10, 15, 14, 11), tick=False):
        user = account_actions.do_sign_up(email="new@shop.test", name="New", password="x" * 12)
    subscription = Subscription.objects.get(company__memberships__user=user)
    assert subscription.plan.kind == PlanKind.FREE and subscription.plan.traffic_limit == 200
    assert subscription.anchor == at(2026, 10, 15, 14, 11)


def test_free_allows_one_invited_user_at_invite_time(db: Any) -> None:
    user = account_actions.do_sign_up(email="boss@small.test", name="Boss", password="x" * 12)
    owner = Membership.objects.get(user=user)
    account_actions.do_invite(company=owner.company, inviter=owner, email="one@small.test",
                              role=Role.OPERATOR)
    with pytest.raises(AccountError, match="Free plan allows 1 invited user"):
        account_actions.do_invite(company=owner.company, inviter=owner,
                                  email="two@small.test", role=Role.OPERATOR)
    billing.do_change_plan(owner.company_id, standard_plan(PlanKind.STARTUP))
    account_actions.do_invite(company=owner.company, inviter=owner, email="two@small.test",
                              role=Role.OPERATOR)


def test_a_plan_that_would_drop_below_the_seats_in_use_is_refused(acme: Tenant) -> None:
    with pytest.raises(billing.BillingError, match="has 2. Remove members first"):
        billing.do_change_plan(acme.company.pk, standard_plan(PlanKind.FREE))
    assert state(acme).plan.kind == PlanKind.STARTUP


# --- the traffic counter (H3) ---------------------------------------------------------------

def test_traffic_counts_each_interlocutor_once_per_period_and_restarts_with_the_next(
        acme: Tenant, globex: Tenant) -> None:
    on_plan(acme, limit=100, anchor=at(2026, 10, 15, 14, 11))
    on_plan(globex, limit=100, anchor=at(2026, 10, 15, 14, 11))
    [regular] = visitors_write(acme, 1, at(2026, 10, 20, 10))
    visitors_write(acme, 2, at(2026, 11, 10, 10))
    visitors_write(globex, 5, at(2026, 11, 10, 10))
    with time_machine.travel(at(2026, 11, 12, 9), tick=False):  # the same person again
        do_post_visitor_message(regular, client_id="again", body="Me again")
    daily(date(2026, 11, 13))
    assert state(acme).traffic == 3 and state(globex).traffic == 5
    assert TrafficStat.objects.get(company=acme.company, day=date(2026, 11, 13)).interlocutors == 3

    # 14:11 on 15 Nov starts a new period: only who wrote since then counts.
    with time_machine.travel(at(2026, 11, 15, 14, 30), tick=False):
        do_post_visitor_message(regular, client_id="new-period", body="Hi again")
    daily(date(2026, 11, 16))
    assert state(acme).traffic == 1 and state(acme).period_start == at(2026, 11, 15, 14, 11)
    assert state(globex).traffic == 0


# --- blocks (H4, H6) ------------------------------------------------------------------------

def test_over_the_limit_at_03_00_blocks_at_02_00_two_days_later_not_the_next_day(
        acme: Tenant, globex: Tenant) -> None:
    on_plan(acme, limit=2, anchor=at(2026, 3, 1, 8))
    on_plan(globex, limit=2, anchor=at(2026, 3, 1, 8))
    visitors_write(acme, 2, at(2026, 3, 10, 1))
    [third] = visitors_write(acme, 1, at(2026, 3, 10, 3))  # over the limit from 03:00
    visitors_write(globex, 2, at(2026, 3, 10, 3))

    daily(date(2026, 3, 11))  # 23 hours over: no block
    assert state(acme).traffic == 3 and state(acme).over_limit_since == at(2026, 3, 10, 3)
    assert blocked(acme, at(2026, 3, 11, 12)) is None
    with time_machine.travel(at(2026, 3, 11, 12), tick=False):
        do_post_visitor_message(third, client_id="still-fine", body="Still there?")

    daily(date(2026, 3, 12))  # 47 hours over: blocked, for the rest of the period
    assert blocked(acme, at(2026, 3, 12, 2, 5)) == "traffic"
    assert blocked(globex, at(2026, 3, 12, 2, 5)) is None  # within its limit
    with time_machine.travel(at(2026, 3, 12, 9), tick=False):
        with pytest.raises(ConversationError) as refused:
            do_post_visitor_message(third, client_id="blocked", body="Hello?")
        assert refused.value.code == "chat_unavailable"
        conversation = Conversation.objects.get(visitor=third)
        do_claim(acme.membership(acme.operators[0]), conversation)
        with pytest.raises(ConversationError) as operator_refused:
            do_post_operator_message(acme.membership(acme.operators[0]),
                                     conversation, client_id="op", body="Hi")
        assert operator_refused.value.code == "communication_blocked"
        assert availability_of(acme.company.pk)[1] is True
        assert availability_of(globex.company.pk)[1] is False
        # Everything stays readable.
        assert conversation.events.filter(body="Still there?").exists()

    # The next period lifts it at its first minute, not at the next 02:00.
    assert blocked(acme, at(2026, 4, 1, 7, 59)) == "traffic"
    assert blocked(acme, at(2026, 4, 1, 8, 0)) is None


def test_a_boost_or_an_upgrade_lifts_a_traffic_block_at_once(acme: Tenant) -> None:
    on_plan(acme, limit=2, anchor=at(2026, 3, 1, 8))
    visitors_write(acme, 3, at(2026, 3, 10, 1))
    daily(date(2026, 3, 12))
    assert blocked(acme, at(2026, 3, 12, 3)) == "traffic"
    with time_machine.travel(at(2026, 3, 12, 3), tick=False):
        billing.do_add_boost(acme.company.pk, 5)
        assert communication_block(acme.company.pk) is None
    daily(date(2026, 3, 13))  # the boost counts in the limit check too
    assert blocked(acme, at(2026, 3, 13, 3)) is None
    assert state(acme).over_limit_since is None
    # The boost was for March's period only.
    visitors_write(acme, 3, at(2026, 4, 2, 1))
    daily(date(2026, 4, 4))
    assert blocked(acme, at(2026, 4, 4, 3)) == "traffic"
    with time_machine.travel(at(2026, 4, 4, 3), tick=False):
        billing.do_change_plan(acme.company.pk, standard_plan(PlanKind.STARTUP))
        assert communication_block(acme.company.pk) is None


def test_a_paid_period_ending_at_14_11_blocks_at_02_00_on_the_second_day_after(
        acme: Tenant, globex: Tenant) -> None:
    on_plan(acme, anchor=at(2026, 2, 10, 14, 11), paid_until=at(2026, 5, 10, 14, 11))
    on_plan(globex, anchor=at(2026, 2, 10, 14, 11), paid_until=at(2026, 6, 10, 14, 11))
    daily(date(2026, 5, 11))  # ended 11 h 49 min ago
    assert blocked(acme, at(2026, 5, 11, 3)) is None
    daily(date(2026, 5, 12))  # 35 h 49 min ago
    assert blocked(acme, at(2026, 5, 12, 3)) == "payment"
    assert blocked(globex, at(2026, 5, 12, 3)) is None
    # A renewal starts where the old period ended, whatever the payment date, and lifts it.
    with time_machine.travel(at(2026, 5, 12, 9), tick=False):
        billing.do_renew(acme.company.pk, 1)
        assert communication_block(acme.company.pk) is None
    assert state(acme).paid_until == at(2026, 6, 10, 14, 11)


# --- alerts (H5) ----------------------------------------------------------------------------

def test_traffic_alerts_go_once_on_the_right_day_to_the_right_people(
        acme: Tenant, globex: Tenant, smtp: Inbox) -> None:
    on_plan(acme, limit=20, anchor=at(2026, 3, 1, 8))
    on_plan(globex, limit=20, anchor=at(2026, 3, 1, 8))
    visitors_write(acme, 18, at(2026, 3, 5, 10))  # 90 %: not above it
    visitors_write(globex, 18, at(2026, 3, 5, 10))
    daily(date(2026, 3, 6))
    assert smtp.messages == []

    visitors_write(acme, 1, at(2026, 3, 6, 10))  # 95 %
    daily(date(2026, 3, 7))
    daily(date(2026, 3, 7))  # run twice: nothing twice
    [ninety] = smtp.messages
    assert ninety["To"] == acme.owner.email and "above 90" in subject(ninety)
    assert "19 of 20" in body_of(ninety) and "19 of 20" in body_of(ninety, "html")
    assert not Notification.objects.exists()  # e-mail only

    visitors_write(acme, 2, at(2026, 3, 7, 10))  # 21: over the limit from 10:00
    daily(date(2026, 3, 8))
    assert [subject(m) for m in smtp.messages[1:]] == [
        "Your traffic has reached this period's limit — Acme"]
    assert smtp.messages[1]["To"] == acme.owner.email
    daily(date(2026, 3, 9))  # 40 hours over: blocked; the console tells everyone
    everyone = {acme.owner.pk, *(u.pk for u in acme.operators)}
    notified = Notification.objects.filter(kind="billing")
    assert set(notified.values_list("user_id", flat=True)) == everyone
    assert notified.count() == 3 and "traffic limit" in notified[0].title
    assert len(smtp.messages) == 2  # the block is told on the console only
    daily(date(2026, 3, 10))
    assert Notification.objects.filter(kind="billing").count() == 3
    assert set(Alert.objects.values_list("company__name", "cause")) == {
        ("Acme", "traffic_90"), ("Acme", "traffic_100"), ("Acme", "traffic_blocked")}


def test_payment_alerts_three_days_before_on_the_day_and_at_the_block(
        acme: Tenant, globex: Tenant, smtp: Inbox) -> None:
    on_plan(acme, anchor=at(2026, 1, 20, 10), paid_until=at(2026, 4, 20, 10))
    on_plan(globex, anchor=at(2026, 1, 20, 10), paid_until=at(2026, 7, 20, 10))
    daily(date(2026, 4, 16))
    assert smtp.messages == []
    daily(date(2026, 4, 17))
    [three_days] = smtp.messages
    assert three_days["To"] == acme.owner.email and "ends in 3 days" in subject(three_days)
    assert "20 April 2026, 10:00" in body_of(three_days)
    assert list(Notification.objects.values_list("user_id", flat=True)) == [acme.owner.pk]
    daily(date(2026, 4, 18))
    daily(date(2026, 4, 20))
    assert "ends today" in subject(smtp.messages[1]) and len(smtp.messages) == 2
    assert Notification.objects.filter(user=acme.owner).count() == 2
    daily(date(2026, 4, 21))  # 16 hours over: no block yet
    assert blocked(acme, at(2026, 4, 21, 3)) is None
    daily(date(2026, 4, 22))
    assert blocked(acme, at(2026, 4, 22, 3)) == "payment"
    block_notes = Notification.objects.filter(title__contains="paid period has expired")
    assert set(block_notes.values_list("user_id", flat=True)) == {
        acme.owner.pk, *(u.pk for u in acme.operators)}
    assert not Notification.objects.filter(company=globex.company).exists()


# --- once per day, with any number of workers (H4) ------------------------------------------

def snapshot() -> list[Any]:
    rows = Subscription.objects.order_by("pk").values_list(
        "company_id", "period_start", "traffic", "over_limit_since", "traffic_blocked_period",
        "payment_blocked", "last_update")
    return [*rows, *Alert.objects.order_by("company_id", "cause").values_list(
        "company_id", "cause", "period"), Notification.objects.count(),
        *TrafficStat.objects.order_by("company_id", "day").values_list(
            "company_id", "day", "interlocutors")]


def test_the_daily_update_run_twice_changes_nothing_the_second_time(
        acme: Tenant, globex: Tenant) -> None:
    on_plan(acme, limit=2, anchor=at(2026, 3, 1, 8), paid_until=at(2026, 3, 5, 8))
    on_plan(globex, limit=5, anchor=at(2026, 3, 1, 8))
    visitors_write(acme, 4, at(2026, 3, 6, 1))
    visitors_write(globex, 5, at(2026, 3, 6, 1))
    daily(date(2026, 3, 8))
    once = snapshot()
    visitors_write(globex, 3, at(2026, 3, 8, 5))  # after 02:00: not that day's business
    daily(date(2026, 3, 8))
    assert snapshot() == once


def test_two_workers_at_once_give_the_result_of_one_run_and_claim_a_slot_once(
        transactional_db: Any) -> None:
    from .conftest import make_tenant

    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    on_plan(acme, limit=2, anchor=at(2026, 3, 1, 8), paid_until=at(2026, 3, 5, 8))
    on_plan(globex, limit=5, anchor=at(2026, 3, 1, 8))
    visitors_write(acme, 4, at(2026, 3, 6, 1))
    visitors_write(globex, 5, at(2026, 3, 6, 1))
    errors: list[BaseException] = []

    def both(work: Any) -> list[Any]:
        """`work` in two threads released at the same moment; what each returned."""
        barrier = threading.Barrier(2)
        results: list[Any] = []

        def run() -> None:
            from django.db import connection

            try:
                barrier.wait()
                results.append(work())
            except BaseException as error:  # noqa: BLE001 (reported below)
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        return results

    # The update of 8 March, by two workers at once, from the state of the 7th.
    with time_machine.travel(at(2026, 3, 8, 2, 1), tick=False):
        both(lambda: update_subscriptions(date(2026, 3, 8)))
    # What one run gives: Acme's paid period ended 3 days ago, and it is 2 over its limit
    # since 01:00 on the 6th; Globex is at its limit. Each alert once.
    assert (state(acme).traffic, state(acme).payment_blocked) == (4, True)
    assert state(acme).traffic_blocked_period == at(2026, 3, 1, 8)
    assert (state(globex).traffic, state(globex).traffic_blocked_period) == (5, None)
    assert sorted(Alert.objects.values_list("company__name", "cause")) == [
        ("Acme", "payment_blocked"), ("Acme", "traffic_100"), ("Acme", "traffic_blocked"),
        ("Globex", "traffic_100")]
    assert Notification.objects.filter(kind="billing").count() == 6  # 2 blocks × 3 people
    together = snapshot()
    daily(date(2026, 3, 8))  # and one more, alone: nothing changes
    assert snapshot() == together

    # The scheduler's claim: two workers ticking at once run the 9th's slot once.
    PeriodicRun.objects.create(job="billing.daily_update", slot=at(2026, 3, 8, 2),
                               claimed_by="earlier", claimed_at=at(2026, 3, 8, 2),
                               finished_at=at(2026, 3, 8, 2, 1))
    with time_machine.travel(at(2026, 3, 9, 2, 0, 30), tick=False):
        ran = both(lambda: periodic.tick(worker=threading.current_thread().name,
                                         jobs=periodic.JOBS[:1]))
    assert sorted(len(r) for r in ran) == [0, 1]
    run = PeriodicRun.objects.get(slot=at(2026, 3, 9, 2))
    assert run.finished_at is not None and run.result["companies"] == 2


def test_the_scheduler_catches_up_the_days_it_missed_oldest_first_and_only_once(
        acme: Tenant) -> None:
    on_plan(acme, anchor=at(2026, 1, 1))
    PeriodicRun.objects.create(job="billing.daily_update", slot=at(2026, 3, 5, 2),
                               claimed_by="before", claimed_at=at(2026, 3, 5, 2),
                               finished_at=at(2026, 3, 5, 2, 1))
    job = periodic.JOBS[:1]
    with time_machine.travel(at(2026, 3, 8, 1, 59), tick=False):
        assert periodic.tick(jobs=job) == [("billing.daily_update", at(2026, 3, 6, 2)),
                                           ("billing.daily_update", at(2026, 3, 7, 2))]
        assert periodic.tick(jobs=job) == []
    with time_machine.travel(at(2026, 3, 8, 2, 0), tick=False):
        assert periodic.tick(jobs=job) == [("billing.daily_update", at(2026, 3, 8, 2))]
    assert state(acme).last_update == date(2026, 3, 8)


def test_a_claim_left_by_a_dead_worker_is_taken_over_after_the_lease(acme: Tenant) -> None:
    PeriodicRun.objects.create(job="billing.daily_update", slot=at(2026, 3, 8, 2),
                               claimed_by="dead", claimed_at=at(2026, 3, 8, 2))
    job = periodic.JOBS[:1]
    with time_machine.travel(at(2026, 3, 8, 2, 10), tick=False):
        assert periodic.tick(jobs=job) == []  # still within its lease
    with time_machine.travel(at(2026, 3, 8, 2, 16), tick=False):
        assert periodic.tick(jobs=job) == [("billing.daily_update", at(2026, 3, 8, 2))]
    assert PeriodicRun.objects.get().claimed_by == periodic.WORKER_ID


def test_a_company_made_after_the_slot_waits_for_the_next_day(db: Any) -> None:
    with time_machine.travel(at(2026, 3, 8, 2, 30), tick=False):
        company = Company.objects.create(name="Late")
    daily(date(2026, 3, 8))
    assert not Subscription.objects.filter(company=company, last_update__isnull=False).exists()
    daily(date(2026, 3, 9))
    assert Subscription.objects.get(company=company).last_update == date(2026, 3, 9)


def test_a_boost_must_be_a_positive_number(acme: Tenant) -> None:
    for bad in (0, -5, True, 10**7):
        with pytest.raises(billing.BillingError):
            billing.do_add_boost(acme.company.pk, bad)
    assert state(acme).boost == 0


def test_a_blocked_companys_visitor_api_answers_403_and_another_company_is_untouched(
        acme: Tenant, globex: Tenant, client: Any) -> None:
    import json

    on_plan(acme, limit=1, anchor=at(2026, 3, 1, 8))
    on_plan(globex, limit=1, anchor=at(2026, 3, 1, 8))
    visitors_write(acme, 2, at(2026, 3, 10, 1))
    daily(date(2026, 3, 12))
    with time_machine.travel(at(2026, 3, 12, 9), tick=False):
        for tenant, status in ((acme, 403), (globex, 201)):
            session = client.post(f"/widget/api/{tenant.widget.key}/session", "{}",
                                  content_type="application/json").json()
            sent = client.post(f"/widget/api/{tenant.widget.key}/messages",
                               json.dumps({"client_id": "c1", "body": "Hello"}),
                               content_type="application/json",
                               headers={"Authorization": f"Bearer {session['token']}"})
            assert sent.status_code == status, sent.content
            if status == 403:
                assert sent.json()["error"]["code"] == "chat_unavailable"


def test_a_31_january_anchor_restarts_the_counter_on_28_february_and_31_march(
        acme: Tenant) -> None:
    on_plan(acme, limit=100, anchor=at(2027, 1, 31, 9, 30))
    visitors_write(acme, 3, at(2027, 2, 20, 12))
    daily(date(2027, 2, 28))  # 02:00 on the 28th: still January's period
    assert state(acme).traffic == 3 and state(acme).period_start == at(2027, 1, 31, 9, 30)
    visitors_write(acme, 1, at(2027, 2, 28, 9, 30))  # the first minute of February's
    daily(date(2027, 3, 1))
    assert state(acme).traffic == 1 and state(acme).period_start == at(2027, 2, 28, 9, 30)
    visitors_write(acme, 2, at(2027, 3, 30, 12))
    daily(date(2027, 3, 31))  # the next period starts at 09:30 on the 31st, not the 28th
    assert state(acme).traffic == 3 and state(acme).period_start == at(2027, 2, 28, 9, 30)
    daily(date(2027, 4, 1))
    assert state(acme).traffic == 0 and state(acme).period_start == at(2027, 3, 31, 9, 30)
