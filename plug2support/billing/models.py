"""Plans, subscriptions, traffic and alerts (H1–H7). The seeds' subscription document is the
source; docs/billing.md explains each rule with worked examples."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from plug2support.accounts.models import Company


class PlanKind(models.TextChoices):
    FREE = "free", "Free"
    STARTUP = "startup", "Startup"
    CUSTOM = "custom", "Custom"


class Plan(models.Model):
    """A tariff plan (H1). Free and Startup are one row each (made by migration 0001); staff
    add Custom plans, one per agreement, with their own limits and price."""

    code = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=PlanKind.choices)
    traffic_limit = models.PositiveIntegerField(
        help_text="Unique interlocutors per billing period.")
    invited_users_limit = models.PositiveIntegerField(
        help_text="Users a company may invite besides its owner.")
    seat_price = models.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("0.00"),
        help_text="Price of one operator seat for one month, before the term's discount.")
    currency = models.CharField(max_length=3, default="EUR")

    def __str__(self) -> str:
        return self.name

    @property
    def is_paid(self) -> bool:
        return self.kind != PlanKind.FREE


class Term(models.Model):
    """A subscription duration one can pay for, with its discount (H8), set by staff."""

    months = models.PositiveSmallIntegerField(unique=True)
    discount_percent = models.DecimalField(max_digits=5, decimal_places=2,
                                           default=Decimal("0.00"))

    class Meta:
        ordering = ["months"]

    def __str__(self) -> str:
        return f"{self.months} month{'s' if self.months > 1 else ''}"


class BlockReason(models.TextChoices):
    TRAFFIC = "traffic", "Traffic limit exceeded"
    PAYMENT = "payment", "Paid period expired"


class Subscription(models.Model):
    """A company's plan and where it stands. The daily update (daily.py) writes the counter,
    the moment the limit was exceeded and the blocks; billing/actions.py everything else."""

    company = models.OneToOneField(Company, on_delete=models.CASCADE,
                                   related_name="subscription")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    # H2: every billing period starts at this date and time, a month after the previous.
    anchor = models.DateTimeField()
    seats = models.PositiveIntegerField(default=1)
    term_months = models.PositiveSmallIntegerField(default=1)
    # The end of the paid period (H4's payment check); None on Free.
    paid_until = models.DateTimeField(null=True, blank=True)
    credit = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))

    # What the last daily update found (H4), for the billing period starting at period_start.
    period_start = models.DateTimeField()
    traffic = models.PositiveIntegerField(default=0)
    # When the counter first went over the limit in this period (from the messages).
    over_limit_since = models.DateTimeField(null=True, blank=True)
    # A traffic boost (H7) adds to the limit of the period it was bought in only.
    boost = models.PositiveIntegerField(default=0)
    boost_period_start = models.DateTimeField(null=True, blank=True)
    # Blocks (H6). A traffic block holds for the period it was found in; a payment block
    # until the paid period is extended. Both also lift at once when their cause goes
    # (access.communication_block reads them against the live state).
    traffic_blocked_period = models.DateTimeField(null=True, blank=True)
    payment_blocked = models.BooleanField(default=False)
    last_update = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.company} on {self.plan}"


class DailyUpdateMark(models.Model):
    """The newest day whose subscription update (H4) has started, in this deployment (its
    one row). A run of an older day — a slot taken over after its lease once a newer day
    went through, a slow run a newer one overtook, a manual re-run of a past day — would roll
    every subscription back to that day: daily.py refuses it (changes nothing) instead."""

    day = models.DateField()
    started_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"daily update of {self.day}"


class AlertCause(models.TextChoices):
    """H5's six alerts."""

    TRAFFIC_90 = "traffic_90", "Traffic above 90 % of the limit"
    TRAFFIC_100 = "traffic_100", "Traffic at or above the limit"
    TRAFFIC_BLOCKED = "traffic_blocked", "Communication blocked for traffic"
    PAYMENT_3_DAYS = "payment_3_days", "Paid period ends in 3 days"
    PAYMENT_TODAY = "payment_today", "Paid period ends today"
    PAYMENT_BLOCKED = "payment_blocked", "Communication blocked for expired payment"


class Alert(models.Model):
    """An alert sent: one per company, cause and period (the billing period's start for the
    traffic alerts at 90 % and 100 %, the moment the counter went over the limit for a
    traffic block — one per block —, the paid period's end for the payment ones) — the
    unique constraint makes "once" hold with any number of workers."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="alerts")
    cause = models.CharField(max_length=20, choices=AlertCause.choices)
    period = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "cause", "period"],
                                               name="one_alert_per_cause_and_period")]

    def __str__(self) -> str:
        return f"{self.company}: {self.get_cause_display()}"


class TrafficStat(models.Model):
    """Statistics collection (H4 step 2): the counter as each day's update found it."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="traffic_stats")
    day = models.DateField()
    period_start = models.DateTimeField()
    interlocutors = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "day"],
                                               name="one_traffic_stat_per_day")]

    def __str__(self) -> str:
        return f"{self.company_id} on {self.day}: {self.interlocutors}"


class InvoiceKind(models.TextChoices):
    RENEWAL = "renewal", "Renewal"   # the next paid term, issued on the 20th (H9)
    CHANGE = "change", "Change"      # an upgrade or more seats, mid-term or from Free (H8)


class InvoiceStatus(models.TextChoices):
    OPEN = "open", "Open"
    PAID = "paid", "Paid"
    VOID = "void", "Void"


class InvoiceCounter(models.Model):
    """The last invoice number issued. Its one row is locked while an invoice is numbered,
    in the same transaction that stores it, so numbers have no gaps and no repeats."""

    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return str(self.last_number)


class Invoice(models.Model):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="invoices")
    number = models.PositiveIntegerField(unique=True)
    kind = models.CharField(max_length=10, choices=InvoiceKind.choices)
    status = models.CharField(max_length=10, choices=InvoiceStatus.choices,
                              default=InvoiceStatus.OPEN)
    issued_at = models.DateTimeField()
    due_at = models.DateTimeField()
    # What it buys: this plan with these seats for [period_start, period_end).
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    seats = models.PositiveIntegerField()
    term_months = models.PositiveSmallIntegerField()
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    lines = models.JSONField(default=list)  # [{description, quantity, unit_price, amount}]
    subtotal = models.DecimalField(max_digits=12, decimal_places=2)
    credit_applied = models.DecimalField(max_digits=12, decimal_places=2,
                                         default=Decimal("0.00"))
    total = models.DecimalField(max_digits=12, decimal_places=2)
    amount_paid = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    currency = models.CharField(max_length=3, default="EUR")
    # Who it is for, as it was when issued (an invoice never changes afterwards).
    bill_to = models.JSONField(default=dict)
    paid_at = models.DateTimeField(null=True, blank=True)
    # Delivery by e-mail (H9): retried until it succeeds; staff hear of one late.
    emailed_to = models.EmailField(blank=True, default="")
    emailed_at = models.DateTimeField(null=True, blank=True)
    delivery_attempts = models.PositiveIntegerField(default=0)
    delivery_error = models.TextField(blank=True, default="")
    delivery_claimed_at = models.DateTimeField(null=True, blank=True)
    staff_alerted_at = models.DateTimeField(null=True, blank=True)
    stripe_session_id = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-number"]
        constraints = [
            # The 20th's run (and any re-run) issues one renewal invoice per paid term.
            models.UniqueConstraint(fields=["company", "period_start"],
                                    condition=models.Q(kind="renewal"),
                                    name="one_renewal_invoice_per_term"),
        ]

    def __str__(self) -> str:
        return f"Invoice {self.display_number}"

    @property
    def display_number(self) -> str:
        return f"{self.number:06d}"

    @property
    def reference(self) -> str:
        """What a bank transfer quotes, so staff can match it to this invoice."""
        return f"P2S-{self.number:06d}"

    @property
    def balance(self) -> Decimal:
        return max(self.total - self.amount_paid, Decimal("0.00"))


class PaymentMethod(models.TextChoices):
    CARD = "card", "Card (Stripe)"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"


class Payment(models.Model):
    """Money received for an invoice: a card payment confirmed by Stripe's webhook, or a
    bank transfer recorded by staff. `external_id` (Stripe's payment intent, the bank's
    transaction id) is unique, so the same payment is never counted twice."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    method = models.CharField(max_length=20, choices=PaymentMethod.choices)
    external_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    received_at = models.DateTimeField()
    recorded_by = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True,
                                    blank=True, related_name="+")
    note = models.CharField(max_length=255, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.amount} for invoice {self.invoice_id} ({self.method})"


class StripeEvent(models.Model):
    """Every Stripe webhook event applied, by its id: a redelivery changes nothing."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.event_id
