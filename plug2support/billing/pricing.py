"""Price and proration (H8): what a company pays, in numbers a finance person can check by
hand (docs/billing.md has worked examples).

- A term's price = seats × months × the plan's seat price, less the term's discount, rounded
  to the cent (half up).
- A change in the middle of a paid term (more or fewer seats, another paid plan) is priced
  by the whole days left: the new configuration for the days left, less what the current
  one is worth for those days. Positive: due now, on an invoice; negative: account credit,
  used by the next invoice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from .models import Plan, Subscription, Term
from .periods import add_months

CENT = Decimal("0.01")
DEFAULT_DISCOUNTS = {1: Decimal("0"), 3: Decimal("5"), 6: Decimal("10"), 12: Decimal("20")}


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def discount_percent(months: int) -> Decimal:
    term = Term.objects.filter(months=months).first()
    if term is not None:
        return term.discount_percent
    return DEFAULT_DISCOUNTS.get(months, Decimal("0"))


@dataclass(frozen=True)
class Price:
    seats: int
    months: int
    seat_price: Decimal
    gross: Decimal  # seats × months × seat price
    discount_percent: Decimal
    discount: Decimal
    total: Decimal

    @property
    def lines(self) -> list[dict[str, str]]:
        """The invoice's lines: the seats, then the term's discount if any."""
        lines = [{"description": f"Operator seats × {self.months} month"
                                 f"{'s' if self.months > 1 else ''}",
                  "quantity": str(self.seats * self.months), "unit_price": str(self.seat_price),
                  "amount": str(self.gross)}]
        if self.discount:
            lines.append({"description": f"Term discount ({self.discount_percent.normalize()} %)",
                          "quantity": "1", "unit_price": str(-self.discount),
                          "amount": str(-self.discount)})
        return lines


def term_price(plan: Plan, seats: int, months: int) -> Price:
    gross = cents(plan.seat_price * seats * months)
    percent = discount_percent(months)
    discount = cents(gross * percent / 100)
    return Price(seats, months, plan.seat_price, gross, percent, discount, gross - discount)


@dataclass(frozen=True)
class Proration:
    days_left: int
    days_in_term: int
    current_value: Decimal  # what the current configuration is worth for the days left
    new_value: Decimal      # what the new one costs for the days left
    amount: Decimal         # new − current: due now (> 0) or credited (< 0)


def prorate(subscription: Subscription, plan: Plan, seats: int, now: datetime) -> Proration:
    """The change from the subscription's plan and seats to `plan` and `seats`, now, for the
    rest of its paid term (whole days). Without a paid period left, nothing is prorated."""
    paid_until = subscription.paid_until
    if paid_until is None or paid_until <= now or not subscription.plan.is_paid:
        return Proration(0, 0, Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))
    term_start = add_months(paid_until, -subscription.term_months)
    days_in_term = (paid_until.date() - term_start.date()).days
    days_left = (paid_until.date() - now.date()).days
    share = Decimal(days_left) / Decimal(days_in_term)
    current = cents(term_price(subscription.plan, subscription.seats,
                               subscription.term_months).total * share)
    new = cents(term_price(plan, seats, subscription.term_months).total * share)
    return Proration(days_left, days_in_term, current, new, new - current)
