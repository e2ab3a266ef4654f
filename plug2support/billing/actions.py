"""The only code that changes subscriptions outside the daily update: check_* validates,
do_* writes. Every change that can lift a block says so at once (access.block_changed)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import ngettext

from plug2support.accounts.models import Company, Invitation, Membership

from .access import block_changed, pending_change, subscription_of
from .invoices import issue
from .models import Invoice, InvoiceKind, InvoiceStatus, Plan, PlanKind, Subscription
from .periods import add_months, period_at
from .pricing import Price, Proration, prorate, term_price


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
            f"The {plan.name} plan allows {invited_users_text(plan.invited_users_limit)}; "
            "this company has reached it. Upgrade on the billing page, or remove a member or "
            "an open invitation.")


def invited_users_text(count: int) -> str:
    return ngettext("%(count)d invited user", "%(count)d invited users", count) % {
        "count": count}


def seats_in_use(company_id: int) -> int:
    return Membership.objects.filter(company_id=company_id).count()


def check_plan(subscription: Subscription, plan: Plan) -> None:
    in_use = seats_in_use(subscription.company_id)
    if in_use - 1 > plan.invited_users_limit:
        raise BillingError(
            f"The {plan.name} plan allows {invited_users_text(plan.invited_users_limit)}; "
            f"this company has {in_use - 1}. Remove members first.")


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


# --- self-serve changes on the billing page (H7, H8) ----------------------------------------

SELF_SERVE = (PlanKind.FREE, PlanKind.STARTUP)
MAX_SEATS = 1000


@dataclass(frozen=True)
class Quote:
    """What a change costs, shown before it is confirmed."""
    plan: Plan
    seats: int
    months: int
    kind: str              # "subscribe" (a first paid term), "change" (mid-term), "free"
    amount: Decimal        # due now (> 0) or credited (< 0)
    proration: Proration | None
    price: Price | None    # the full term, for "subscribe"
    takes_effect: str      # "now", or "when paid"

    @property
    def summary(self) -> str:
        if self.kind == "free":
            credit = f" {-self.amount} {self.plan.currency} of unused time becomes account " \
                     "credit." if self.amount < 0 else ""
            return f"Switch to Free now.{credit}"
        if self.kind == "subscribe":
            return (f"{self._bought}: {self.amount} {self.plan.currency}, invoiced now; it "
                    "starts when paid.")
        if self.amount > 0:
            return (f"{self.amount} {self.plan.currency} for the {self._days}, invoiced now; "
                    "the change applies when paid.")
        return (f"{-self.amount} {self.plan.currency} back as account credit for the "
                f"{self._days}; the change applies now.")

    def invoiced(self, invoice: Invoice) -> str:
        """What the page says once the change is confirmed: the invoice's total once (what
        is due after any account credit, which can differ from the quote), then what it
        buys and when it applies."""
        credit = (f" ({invoice.credit_applied} {invoice.currency} of account credit used)"
                  if invoice.credit_applied else "")
        what = self._bought if self.kind == "subscribe" else f"the {self._days}"
        if invoice.status == InvoiceStatus.PAID:
            return (f"Invoice {invoice.display_number} is paid from your account credit: "
                    f"{what}; the change applies now.")
        return (f"Invoice {invoice.display_number} is ready: {invoice.total} "
                f"{invoice.currency}{credit} for {what}; "
                f"{'it starts' if self.kind == 'subscribe' else 'the change applies'} when "
                "paid.")

    @property
    def _bought(self) -> str:
        seats = ngettext("%(n)d seat", "%(n)d seats", self.seats) % {"n": self.seats}
        months = ngettext("%(n)d month", "%(n)d months", self.months) % {"n": self.months}
        return f"{self.plan.name}, {seats} for {months}"

    @property
    def _days(self) -> str:
        assert self.proration is not None
        left, term = self.proration.days_left, self.proration.days_in_term
        return ngettext("%(left)d of %(term)d day left", "%(left)d of %(term)d days left",
                        term) % {"left": left, "term": term}


def check_change(subscription: Subscription, plan: Plan, seats: object, months: object) -> \
        tuple[int, int]:
    if plan.kind not in SELF_SERVE:
        raise BillingError("Custom plans are arranged with our support team.")
    if not isinstance(seats, int) or isinstance(seats, bool) or not 1 <= seats <= MAX_SEATS:
        raise BillingError(f"Seats are a whole number from 1 to {MAX_SEATS}.")
    if not isinstance(months, int) or months not in (1, 3, 6, 12):
        raise BillingError("A term is 1, 3, 6 or 12 months.")
    in_use = seats_in_use(subscription.company_id)
    if plan.kind != PlanKind.FREE and seats < in_use:
        raise BillingError(f"This company has {in_use} people; choose at least {in_use} "
                           "seats, or remove members first.")
    check_plan(subscription, plan)
    return seats, months


def quote_change(company_id: int, plan: Plan, seats: object, months: object) -> Quote:
    subscription = subscription_of(company_id)
    if plan.kind == PlanKind.FREE and subscription.plan.kind == PlanKind.FREE:
        raise BillingError("This company is already on the Free plan.")
    seats_, months_ = check_change(subscription, plan, seats, months)
    now = timezone.now()
    if plan.kind == PlanKind.FREE:
        proration = prorate(subscription, plan, 1, now)
        return Quote(plan, 1, 1, "free", proration.amount, proration, None, "now")
    paid_left = (subscription.plan.is_paid and subscription.paid_until is not None
                 and subscription.paid_until > now)
    if not paid_left:
        price = term_price(plan, seats_, months_)
        return Quote(plan, seats_, months_, "subscribe", price.total, None, price, "when paid")
    proration = prorate(subscription, plan, seats_, now)
    if plan == subscription.plan and seats_ == subscription.seats:
        raise BillingError("That is the current plan and number of seats.")
    return Quote(plan, seats_, subscription.term_months, "change", proration.amount, proration,
                 None, "when paid" if proration.amount > 0 else "now")


def do_change_subscription(company_id: int, plan: Plan, seats: object, months: object) -> \
        tuple[Quote, Invoice | None]:
    """Confirm what quote_change showed: an invoice to pay (the change applies when it is
    paid), or the change now with any unused value as account credit."""
    quote = quote_change(company_id, plan, seats, months)
    now = timezone.now()
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().select_related("plan").get(
            company_id=company_id)
        pending = pending_change(company_id)
        if pending is not None:
            # One change at a time: a second would be priced from a state the first changes.
            raise BillingError(f"Invoice {pending.display_number} for a change is still open: "
                               "pay it first, or ask our support team to cancel it.")
        if quote.amount > 0:
            if quote.kind == "subscribe":
                invoice = issue(subscription, kind=InvoiceKind.CHANGE, plan=plan,
                                seats=quote.seats, months=quote.months, period_start=now,
                                now=now)
            else:
                assert quote.proration is not None and subscription.paid_until is not None
                invoice = issue(
                    subscription, kind=InvoiceKind.CHANGE, plan=plan, seats=quote.seats,
                    months=quote.months, period_start=now, period_end=subscription.paid_until,
                    now=now, subtotal=quote.amount, extra_lines=_change_lines(
                        subscription, plan, quote))
            return quote, invoice
        subscription.credit += -quote.amount
        subscription.plan, subscription.seats = plan, quote.seats
        if plan.kind == PlanKind.FREE:
            subscription.paid_until, subscription.payment_blocked = None, False
        subscription.save(update_fields=["credit", "plan", "seats", "paid_until",
                                         "payment_blocked"])
        block_changed(company_id)
    return quote, None


def _change_lines(subscription: Subscription, plan: Plan, quote: Quote) -> list[dict[str, str]]:
    assert quote.proration is not None
    p = quote.proration
    share = f"{p.days_left}/{p.days_in_term} of the term"
    return [
        {"description": f"{plan.name}, {quote.seats} seats, {share}", "quantity": "1",
         "unit_price": str(p.new_value), "amount": str(p.new_value)},
        {"description": f"Less {subscription.plan.name}, {subscription.seats} seats, {share}",
         "quantity": "1", "unit_price": str(-p.current_value),
         "amount": str(-p.current_value)},
    ]
