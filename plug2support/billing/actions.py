"""The only code that changes subscriptions outside the daily update: check_* validates,
do_* writes. Every change that can lift a block says so at once (access.block_changed)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from plug2support.accounts.models import Company, Invitation, Membership

from .access import block_changed, subscription_of
from .models import Plan, PlanKind, Subscription
from .periods import add_months, period_at


class BillingError(Exception):
    """A refused billing change; the message is shown to the person as is."""


def invited_users(company: Company) -> int:
    """Members besides the one who made the company, plus invitations still open."""
    members = Membership.objects.filter(company=company).count()
    pending = sum(1 for invitation in Invitation.objects.filter(
        company=company, accepted_at__isnull=True) if invitation.is_open)
    return max(members - 1, 0) + pending


def check_invite_allowed(company: Company) -> None:
    """H1/A2: the plan caps the invited users, at invite time."""
    plan = subscription_of(company.pk).plan
    if invited_users(company) >= plan.invited_users_limit:
        raise BillingError(
            f"The {plan.name} plan allows {plan.invited_users_limit} invited "
            f"user{'s' if plan.invited_users_limit != 1 else ''}; this company has reached "
            "it. Upgrade on the billing page, or remove a member or an open invitation.")


def seats_in_use(company_id: int) -> int:
    return Membership.objects.filter(company_id=company_id).count()


def check_plan(subscription: Subscription, plan: Plan) -> None:
    in_use = seats_in_use(subscription.company_id)
    if in_use - 1 > plan.invited_users_limit:
        raise BillingError(
            f"The {plan.name} plan allows {plan.invited_users_limit} invited users; this "
            f"company has {in_use - 1}. Remove members first.")


def do_change_plan(company_id: int, plan: Plan) -> Subscription:
    """Staff (back office) or the billing page put the company on `plan` from now. The
    traffic limit that counts is the new plan's at once: a block for traffic lifts if the
    counter is within it."""
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().select_related("plan").get(
            pk=subscription_of(company_id).pk)
        check_plan(subscription, plan)
        subscription.plan = plan
        if plan.kind == PlanKind.FREE:
            subscription.paid_until = None
            subscription.payment_blocked = False
        subscription.save(update_fields=["plan", "paid_until", "payment_blocked"])
        block_changed(company_id)
    return subscription


def do_add_boost(company_id: int, interlocutors: int) -> Subscription:
    """H7: a traffic boost package (sold through support) adds to the current period's
    limit; boosts bought in the same period add up, and the next period starts without."""
    if not isinstance(interlocutors, int) or isinstance(interlocutors, bool) \
            or interlocutors <= 0 or interlocutors > 1_000_000:
        raise BillingError("A boost adds between 1 and 1 000 000 interlocutors.")
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().select_related("plan").get(
            pk=subscription_of(company_id).pk)
        start, _ = period_at(subscription.anchor, timezone.now())
        if subscription.boost_period_start == start:
            subscription.boost += interlocutors
        else:
            subscription.boost, subscription.boost_period_start = interlocutors, start
        subscription.save(update_fields=["boost", "boost_period_start"])
        block_changed(company_id)
    return subscription


def do_renew(company_id: int, months: int) -> Subscription:
    """H10: a renewal paid for (or granted by staff) extends the paid period from where it
    ends, whatever the date of the payment (early, or late after a block); a first paid
    period starts now. A payment block lifts at once if the new end is still ahead."""
    if months not in (1, 3, 6, 12):
        raise BillingError("A term is 1, 3, 6 or 12 months.")
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().select_related("plan").get(
            pk=subscription_of(company_id).pk)
        if not subscription.plan.is_paid:
            raise BillingError("The Free plan has no paid period to renew.")
        start = subscription.paid_until or timezone.now()
        subscription.paid_until = add_months(start, months)
        subscription.payment_blocked = (subscription.payment_blocked
                                        and subscription.paid_until <= timezone.now())
        subscription.save(update_fields=["paid_until", "payment_blocked"])
        block_changed(company_id)
    return subscription
