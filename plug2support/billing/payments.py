"""Payments (H10): by card through Stripe Checkout, confirmed by Stripe's signed webhooks, or
by bank transfer, recorded by staff. Partial payments leave the rest due; over-payments
become account credit, used by the next invoice. A paid invoice takes effect at once: a
renewal extends the paid period from where it ends (whatever the payment date), a change
puts the company on the plan and seats it bought — and a payment block lifts."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from plug2support.accounts.models import User

from .access import block_changed
from .models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    StripeEvent,
    Subscription,
)

log = logging.getLogger(__name__)

MAX_PAYMENT = Decimal("1000000.00")


class PaymentError(Exception):
    """A refused payment; the message is shown to staff (or logged for a webhook) as is."""


def check_amount(raw: object) -> Decimal:
    try:
        amount = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise PaymentError("The amount must be a number, such as 120.00.") from None
    if not amount.is_finite() or amount <= 0:
        raise PaymentError("The amount must be more than zero.")
    if amount > MAX_PAYMENT or amount != amount.quantize(Decimal("0.01")):
        raise PaymentError("The amount must be at most 1 000 000.00, in whole cents.")
    return amount


def do_record_payment(invoice_id: object, amount: object, *, method: str,
                      external_id: str | None = None, recorded_by: User | None = None,
                      note: str = "") -> Payment:
    """Record money received for an invoice. The same external id (a Stripe payment, a
    bank transaction) is recorded once: a second call returns the first payment."""
    value = check_amount(amount)
    if method not in PaymentMethod.values:
        raise PaymentError("Unknown payment method.")
    if not isinstance(invoice_id, int) or isinstance(invoice_id, bool):
        raise PaymentError("No invoice has this number.")
    try:
        with transaction.atomic():
            invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
            if invoice is None:
                raise PaymentError("No invoice has this number.")
            if invoice.status == InvoiceStatus.VOID:
                raise PaymentError(f"Invoice {invoice.display_number} is void.")
            if external_id:
                existing = Payment.objects.filter(external_id=external_id).first()
                if existing is not None:
                    return existing
            now = timezone.now()
            payment = Payment.objects.create(
                invoice=invoice, amount=value, method=method, external_id=external_id or None,
                received_at=now, recorded_by=recorded_by, note=note[:255])
            over_before = max(invoice.amount_paid - invoice.total, Decimal("0.00"))
            invoice.amount_paid += value
            over_after = max(invoice.amount_paid - invoice.total, Decimal("0.00"))
            became_paid = (invoice.status == InvoiceStatus.OPEN
                           and invoice.amount_paid >= invoice.total)
            if became_paid:
                invoice.status, invoice.paid_at = InvoiceStatus.PAID, now
            invoice.save(update_fields=["amount_paid", "status", "paid_at"])
            if over_after > over_before:
                # An over-payment: account credit, which the next invoice uses first.
                Subscription.objects.filter(company_id=invoice.company_id).update(
                    credit=F("credit") + (over_after - over_before))
            if became_paid:
                apply_paid_invoice(invoice)
    except IntegrityError:
        # The same external id recorded by a concurrent delivery: that one counts.
        found = Payment.objects.filter(external_id=external_id).first()
        if found is None:
            raise
        return found
    return payment


def apply_paid_invoice(invoice: Invoice) -> None:
    """What a paid invoice buys, from now: inside the caller's transaction."""
    subscription = Subscription.objects.select_for_update().select_related("plan").get(
        company_id=invoice.company_id)
    if invoice.kind == InvoiceKind.CHANGE:
        subscription.plan_id, subscription.seats = invoice.plan_id, invoice.seats
        subscription.term_months = invoice.term_months
    # The paid period runs to the invoice's end; an earlier payment of a later renewal
    # never shortens it.
    if subscription.paid_until is None or subscription.paid_until < invoice.period_end:
        subscription.paid_until = invoice.period_end
    subscription.payment_blocked = (subscription.payment_blocked
                                    and subscription.paid_until <= timezone.now())
    subscription.save(update_fields=["plan", "seats", "term_months", "paid_until",
                                     "payment_blocked"])
    block_changed(invoice.company_id)


# --- Stripe -----------------------------------------------------------------------------------

class WebhookRefused(Exception):
    """400: the webhook is not applied (bad or missing signature, stale, unknown invoice)."""


def create_checkout(invoice: Invoice, success_url: str, cancel_url: str) -> str:
    """A Stripe Checkout session for what is left to pay on the invoice; its address."""
    import stripe  # here, not at the top: the SDK costs ≈300 ms to import, on every start

    if invoice.status != InvoiceStatus.OPEN or invoice.balance <= 0:
        raise PaymentError(f"Invoice {invoice.display_number} has nothing left to pay.")
    if not settings.STRIPE_SECRET_KEY:
        raise PaymentError("Card payments are not set up here; pay by bank transfer.")
    params: dict[str, Any] = {
        "api_key": settings.STRIPE_SECRET_KEY, "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": invoice.currency.lower(),
            "unit_amount": int(invoice.balance * 100),
            "product_data": {"name": f"Plug2Support invoice {invoice.display_number}"}}}],
        "client_reference_id": str(invoice.pk),
        "metadata": {"invoice_id": str(invoice.pk), "reference": invoice.reference},
        "success_url": success_url, "cancel_url": cancel_url,
    }
    if invoice.bill_to.get("email"):
        params["customer_email"] = invoice.bill_to["email"]
    session = stripe.checkout.Session.create(**params)
    Invoice.objects.filter(pk=invoice.pk).update(stripe_session_id=session.id)
    return str(session.url)


PAID_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
APPLIED_ALREADY = "applied already"


def handle_stripe_webhook(payload: bytes, signature: str) -> str:
    """Check the signature over the raw body (with Stripe's time tolerance), then apply the
    event once. Returns what was done ("applied already" for an event seen before); raises
    WebhookRefused for a 400."""
    import stripe  # as in create_checkout: a start-up cost only the payment paths pay

    if not settings.STRIPE_WEBHOOK_SECRET:
        raise WebhookRefused("webhooks are not set up (STRIPE_WEBHOOK_SECRET)")
    try:
        event = stripe.Webhook.construct_event(payload, signature,
                                               settings.STRIPE_WEBHOOK_SECRET,
                                               tolerance=settings.STRIPE_WEBHOOK_TOLERANCE)
    except stripe.SignatureVerificationError as error:
        raise WebhookRefused(f"signature: {error.user_message or error}") from None
    except ValueError:
        raise WebhookRefused("the body is not a Stripe event") from None
    # An event applied before is answered 2xx ("applied already") and changes nothing:
    # Stripe retries every other answer for days and marks the endpoint failing.
    if StripeEvent.objects.filter(event_id=event.id).exists():
        return APPLIED_ALREADY
    try:
        with transaction.atomic():
            StripeEvent.objects.create(event_id=event.id, type=event.type)
            result = _apply_event(event)
    except IntegrityError:
        # The same event delivered twice at once: the other delivery applied it.
        if StripeEvent.objects.filter(event_id=event.id).exists():
            return APPLIED_ALREADY
        raise
    except PaymentError as error:
        raise WebhookRefused(str(error)) from None
    return result


def _apply_event(event: Any) -> str:
    if event.type not in PAID_EVENTS:
        return "ignored"
    session = event.to_dict()["data"]["object"]
    # A completed session paid by a method that settles later says "unpaid": the payment
    # comes with async_payment_succeeded (in either order, counted once by its intent).
    if session.get("payment_status") != "paid":
        return "not paid yet"
    metadata = session.get("metadata") or {}
    raw_id = str(metadata.get("invoice_id") or "")
    if not raw_id.isdigit():
        raise PaymentError("the session names no invoice")
    amount = Decimal(int(session.get("amount_total") or 0)) / 100
    do_record_payment(int(raw_id), amount, method=PaymentMethod.CARD,
                      external_id=str(session.get("payment_intent") or session.get("id")),
                      note=f"Stripe {event.id}")
    return "paid"
