"""Reading a company's subscription, and whether its communication is blocked (H6)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from plug2support.accounts.models import Company
from plug2support.realtime import presence

from .models import BlockReason, Invoice, InvoiceKind, InvoiceStatus, Plan, PlanKind, Subscription
from .periods import period_at

BLOCK_CACHE_SECONDS = 60


# H1's plans as migration 0002 makes them; staff may change their limits and prices later.
# Kept here too so that a database emptied by hand (or by a test's flush) gets them back.
STANDARD_PLANS: dict[str, dict[str, object]] = {
    PlanKind.FREE: {"name": "Free", "kind": PlanKind.FREE, "traffic_limit": 200,
                    "invited_users_limit": 1, "seat_price": Decimal("0.00")},
    PlanKind.STARTUP: {"name": "Startup", "kind": PlanKind.STARTUP, "traffic_limit": 1250,
                       "invited_users_limit": 100, "seat_price": Decimal("19.00")},
}


def standard_plan(code: str) -> Plan:
    """The Free or the Startup plan."""
    plan, _ = Plan.objects.get_or_create(code=code, defaults=STANDARD_PLANS[code])
    return plan


def free_plan() -> Plan:
    return standard_plan(PlanKind.FREE)


def new_subscription(company_id: int, created_at: datetime, at: datetime,
                     plan: Plan) -> Subscription:
    """H1: a company starts on Free, its billing periods anchored at the moment it was made;
    unsaved (subscription_of saves one, the daily update many at once)."""
    return Subscription(company_id=company_id, plan=plan, anchor=created_at,
                        period_start=period_at(created_at, at)[0])


def subscription_of(company_id: int) -> Subscription:
    """The company's subscription, made on first use."""
    found = Subscription.objects.select_related("plan").filter(company_id=company_id).first()
    if found is not None:
        return found
    company = Company.objects.get(pk=company_id)
    try:
        with transaction.atomic():
            subscription = new_subscription(company.pk, company.created_at, timezone.now(),
                                            free_plan())
            subscription.save(force_insert=True)
            return subscription
    except IntegrityError:  # made meanwhile by another request
        return Subscription.objects.select_related("plan").get(company_id=company_id)


def pending_change(company_id: int) -> Invoice | None:
    """The company's plan change waiting for its invoice to be paid (one at a time: a second
    would be priced from a state the first changes), or None."""
    return (Invoice.objects.select_related("plan")
            .filter(company_id=company_id, kind=InvoiceKind.CHANGE, status=InvoiceStatus.OPEN)
            .order_by("number").first())


def traffic_limit(subscription: Subscription, period_start: datetime) -> int:
    """The plan's limit, plus a boost bought for this very period."""
    boost = subscription.boost if subscription.boost_period_start == period_start else 0
    return subscription.plan.traffic_limit + boost


def traffic_level(traffic: int, limit: int) -> str:
    """H5: "red" at or above the limit, "orange" above 90 % of it, else "ok" — the balance's
    colour on the billing page and the traffic alert the daily update sends."""
    if limit and traffic >= limit:
        return "red"
    if limit and traffic * 10 > limit * 9:
        return "orange"
    return "ok"


def block_of(subscription: Subscription, now: datetime) -> tuple[str | None, datetime | None]:
    """Why the company's communication is blocked now (None: it is not), and until when the
    answer holds by itself (a traffic block ends with its period).

    The daily update sets the blocks; they lift here as soon as their cause is gone, without
    waiting for it: a payment that extends the paid period, a plan or boost that raises the
    limit above the counter, or a new billing period."""
    if subscription.payment_blocked and subscription.plan.is_paid and (
            subscription.paid_until is None or subscription.paid_until <= now):
        return BlockReason.PAYMENT, None
    start, end = period_at(subscription.anchor, now)
    if (subscription.traffic_blocked_period == start
            and subscription.traffic > traffic_limit(subscription, start)):
        return BlockReason.TRAFFIC, end
    return None, None


def _cache_key(company_id: int) -> str:
    return f"billing:block:{company_id}"


def communication_block(company_id: int) -> str | None:
    """block_of for the message paths, cached (BLOCK_CACHE_SECONDS, never past the moment a
    traffic block ends); every change of a subscription drops the entry after commit."""
    now = timezone.now()
    cached = cache.get(_cache_key(company_id))
    if cached is not None and (cached[1] is None or cached[1] > now.timestamp()):
        return cached[0] or None
    reason, ends = block_of(subscription_of(company_id), now)
    seconds = BLOCK_CACHE_SECONDS
    if ends is not None:
        seconds = max(1, min(seconds, int((ends - now).total_seconds())))
    cache.set(_cache_key(company_id), (reason or "", ends.timestamp() if ends else None),
              seconds)
    return reason


def block_changed(company_id: int) -> None:
    """After a subscription changed (on commit, when in a transaction): the cached answer
    goes, and the company's widgets and consoles hear the availability again."""
    def tell() -> None:
        cache.delete(_cache_key(company_id))
        presence.publish_availability(company_id)

    # Now, for this process's next question, and again after commit, in case a reader
    # cached the old state in between.
    cache.delete(_cache_key(company_id))
    transaction.on_commit(tell)
