"""Invoices (H9): numbered without gaps, issued on the 20th for the coming renewals of paying
companies — on the last 20th that leaves RENEWAL_LEAD before the paid period ends — (and at
once for an upgrade), rendered as a PDF, e-mailed to the owner's
registered address — retried every hour until it succeeds, with an alert to staff when one
is still not delivered 2 business days after it was issued."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, mail_admins
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone
from django_tasks import task
from fpdf import FPDF

from plug2support.accounts.models import Membership, Role, User
from plug2support.lib.mail import send_email

from .models import (
    Invoice,
    InvoiceCounter,
    InvoiceKind,
    InvoiceStatus,
    Plan,
    PlanKind,
    Subscription,
)
from .payments import apply_paid_invoice
from .periods import add_months
from .pricing import term_price

log = logging.getLogger(__name__)

INVOICE_DAY = 20
INVOICE_AT = time(3, 0)  # after the 02:00 subscription update
DELIVERY_CLAIM = timedelta(minutes=10)
DELIVERY_BUSINESS_DAYS = 2
# A renewal invoice reaches the owner at least this long before the paid period ends: time
# for the e-mail's 2 business days of retries, and to pay, before the block 24–48 h after.
RENEWAL_LEAD = timedelta(days=7)


def owner_of(company_id: int) -> User | None:
    """The registered address invoices and owner alerts go to: the company's first owner."""
    membership = (Membership.objects.filter(company_id=company_id, role=Role.OWNER)
                  .select_related("user").order_by("created_at", "pk").first())
    return membership.user if membership else None


def _next_number() -> int:
    """Call inside the transaction that stores the invoice: the counter row stays locked until
    it commits, so a rolled-back invoice gives its number back and none is skipped."""
    InvoiceCounter.objects.get_or_create(pk=1)
    counter = InvoiceCounter.objects.select_for_update().get(pk=1)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return counter.last_number


def issue(subscription: Subscription, *, kind: str, plan: Plan, seats: int, months: int,
          period_start: datetime, now: datetime, extra_lines: list[dict[str, str]] | None = None,
          subtotal: Decimal | None = None, period_end: datetime | None = None) -> Invoice:
    """A new invoice for `plan` × `seats` over [period_start, +months); the company's account
    credit pays what it can. `subtotal`, `extra_lines` and `period_end` replace the term's
    price, lines and end for a prorated change in the middle of a paid term."""
    price = term_price(plan, seats, months)
    amount = price.total if subtotal is None else subtotal
    lines = price.lines if subtotal is None else (extra_lines or [])
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().select_related("company").get(
            pk=subscription.pk)
        credit = min(locked.credit, amount)
        locked.credit -= credit
        locked.save(update_fields=["credit"])
        owner = owner_of(locked.company_id)
        invoice = Invoice.objects.create(
            company_id=locked.company_id, number=_next_number(), kind=kind, issued_at=now,
            due_at=period_start if kind == InvoiceKind.RENEWAL else now,
            plan=plan, seats=seats, term_months=months, period_start=period_start,
            period_end=period_end or add_months(period_start, months), lines=lines, subtotal=amount,
            credit_applied=credit, total=amount - credit, currency=plan.currency,
            bill_to={"company": locked.company.name,
                     "email": owner.email if owner else "", "name": owner.name if owner else ""})
        if invoice.total == 0:
            invoice.status, invoice.paid_at = InvoiceStatus.PAID, now
            invoice.save(update_fields=["status", "paid_at"])
            apply_paid_invoice(invoice)
        # Stored with the invoice (the task backend enqueues on commit): a first try at once.
        send_invoice.enqueue(invoice.pk)
    return invoice


def invoice_day_slots(after: datetime, until: datetime) -> list[datetime]:
    """The 20th of every month at 03:00 UTC, in (after, until]."""
    slot = datetime.combine(after.astimezone(UTC).date().replace(day=INVOICE_DAY),
                            INVOICE_AT, UTC)
    found = []
    while slot <= until:
        if slot > after:
            found.append(slot)
        slot = add_months(slot, 1)
    return found


def run_invoice_day(slot: datetime) -> dict[str, Any]:
    """The periodic job: a renewal invoice for every paying company whose paid period ends
    before the next invoice day plus RENEWAL_LEAD — so each is issued on the last 20th that
    leaves at least that lead (a paid period ending 20 March 05:00 is invoiced on 20
    February, not two hours before it ends). One that ends sooner without an invoice (a term
    paid after its invoice day had passed) gets it now. Idempotent: one renewal invoice per
    company and term (a unique constraint), however often it runs."""
    horizon = add_months(slot, 1) + RENEWAL_LEAD
    paying = (Subscription.objects.select_related("plan", "company")
              .exclude(plan__kind=PlanKind.FREE)
              .filter(paid_until__isnull=False, paid_until__lt=horizon))
    issued = 0
    for subscription in paying:
        assert subscription.paid_until is not None
        if Invoice.objects.filter(company_id=subscription.company_id, kind=InvoiceKind.RENEWAL,
                                  period_start=subscription.paid_until).exists():
            continue
        try:
            issue(subscription, kind=InvoiceKind.RENEWAL, plan=subscription.plan,
                  seats=subscription.seats, months=subscription.term_months,
                  period_start=subscription.paid_until, now=timezone.now())
            issued += 1
        except IntegrityError:
            continue  # issued meanwhile by another worker
    return {"issued": issued}


# --- the PDF ----------------------------------------------------------------------------------

def _latin1(text: object) -> str:
    """The PDF's built-in fonts cover Latin-1 only: anything else shows as '?'."""
    return str(text).encode("latin-1", "replace").decode("latin-1")


def render_pdf(invoice: Invoice) -> bytes:
    seller: dict[str, str] = settings.BILLING_SELLER
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"Invoice {invoice.display_number}"))
    pdf.set_author(_latin1(seller["name"]))
    pdf.set_creation_date(invoice.issued_at)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 20)
    pdf.cell(0, 12, _latin1(f"Invoice {invoice.display_number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for line in (seller["name"], *seller["address"].splitlines(), seller.get("vat", "")):
        if line:
            pdf.cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(95, 5, "Bill to")
    pdf.cell(0, 5, "Details", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    left = [invoice.bill_to.get("company", ""), invoice.bill_to.get("name", ""),
            invoice.bill_to.get("email", "")]
    right = [f"Reference: {invoice.reference}", f"Issued: {invoice.issued_at:%d %B %Y}",
             f"Due: {invoice.due_at:%d %B %Y}",
             f"Period: {invoice.period_start:%d %b %Y %H:%M} - "
             f"{invoice.period_end:%d %b %Y %H:%M} UTC",
             f"Plan: {invoice.plan.name}, {invoice.seats} seat{'s' if invoice.seats != 1 else ''}"]
    for i in range(max(len(left), len(right))):
        pdf.cell(95, 5, _latin1(left[i] if i < len(left) else ""))
        pdf.cell(0, 5, _latin1(right[i] if i < len(right) else ""), new_x="LMARGIN",
                 new_y="NEXT")
    pdf.ln(6)
    with pdf.table(col_widths=(90, 25, 35, 35),
                   text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT")) as table:
        table.row(["Description", "Quantity", f"Unit price ({invoice.currency})",
                   f"Amount ({invoice.currency})"])
        for line in invoice.lines:
            table.row([_latin1(line["description"]), line["quantity"], line["unit_price"],
                       line["amount"]])
    pdf.ln(4)
    totals = [("Subtotal", invoice.subtotal)]
    if invoice.credit_applied:
        totals.append(("Account credit applied", -invoice.credit_applied))
    paid = invoice.status == InvoiceStatus.PAID and invoice.paid_at is not None
    totals.append(("Total" if paid else "Total due", invoice.total))
    for label, value in totals:
        pdf.set_font("Helvetica", "B" if label.startswith("Total") else "", 11)
        pdf.cell(150, 7, label, align="R")
        pdf.cell(0, 7, f"{value} {invoice.currency}", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 5, "Paid" if paid else "How to pay", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(0, 5, _latin1(payment_text(invoice)))
    return bytes(pdf.output())


def card_payments() -> bool:
    """Card payments are offered only with Stripe configured: no text promises them else."""
    return bool(settings.STRIPE_SECRET_KEY)


def payment_text(invoice: Invoice) -> str:
    """The PDF's last paragraph: how to pay what is offered, or that it is paid."""
    if invoice.status == InvoiceStatus.PAID and invoice.paid_at is not None:
        return f"Paid on {invoice.paid_at:%d %B %Y}: nothing is due."
    bank: dict[str, str] = settings.BILLING_BANK_DETAILS
    transfer = (f"by bank transfer to {bank['holder']}, IBAN {bank['iban']}, BIC {bank['bic']}, "
                f"quoting the reference {invoice.reference}.")
    how = (f"By card on the billing page ({settings.PUBLIC_URL}/billing/), or {transfer}"
           if card_payments() else transfer[0].upper() + transfer[1:])
    if invoice.kind == InvoiceKind.RENEWAL:
        return (f"{how} Paying before the due date is welcome: the new period starts where "
                "the current one ends, whatever the payment date.")
    return (f"{how} The change applies as soon as this invoice is paid, and runs to "
            f"{invoice.period_end:%d %B %Y}.")


# --- delivery ---------------------------------------------------------------------------------

def add_business_days(moment: datetime, days: int) -> datetime:
    while days:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            days -= 1
    return moment


def deliver(invoice_id: int) -> bool:
    """E-mail the invoice (PDF attached) to the owner's registered address, once. A worker
    claims the delivery first, so two workers never send it twice."""
    now = timezone.now()
    claimed = Invoice.objects.filter(
        Q(delivery_claimed_at__isnull=True) | Q(delivery_claimed_at__lt=now - DELIVERY_CLAIM),
        pk=invoice_id, emailed_at__isnull=True,
    ).update(delivery_claimed_at=now)
    if not claimed:
        return False
    invoice = Invoice.objects.select_related("plan", "company").get(pk=invoice_id)
    owner = owner_of(invoice.company_id)
    address = owner.email if owner else invoice.bill_to.get("email", "")
    # Decided now, at send time, not when it was issued: an invoice paid meanwhile (the demo
    # pays its own at once; a bank transfer can overtake a failing delivery) gets a receipt,
    # never a request to pay it again.
    context = {"invoice": invoice, "public_url": settings.PUBLIC_URL,
               "bank": settings.BILLING_BANK_DETAILS, "paid": invoice.status == InvoiceStatus.PAID,
               "card_payments": card_payments()}
    try:
        subject = render_to_string("email/invoice.subject.txt", context).strip()
        message = EmailMultiAlternatives(subject, render_to_string("email/invoice.txt", context),
                                         settings.DEFAULT_FROM_EMAIL, [address])
        message.attach_alternative(render_to_string("email/invoice.html", context), "text/html")
        message.attach(f"invoice-{invoice.display_number}.pdf", render_pdf(invoice),
                       "application/pdf")
        message.send()
    except Exception as error:  # noqa: BLE001 (any failure: kept, and retried next hour)
        log.warning("invoice %s not delivered: %s", invoice.display_number, error)
        Invoice.objects.filter(pk=invoice_id).update(
            delivery_attempts=invoice.delivery_attempts + 1, delivery_claimed_at=None,
            delivery_error=f"{type(error).__name__}: {error}"[:1000])
        return False
    Invoice.objects.filter(pk=invoice_id).update(
        emailed_at=timezone.now(), emailed_to=address, delivery_error="",
        delivery_attempts=invoice.delivery_attempts + 1)
    return True


@task()
def send_invoice(invoice_id: int) -> None:
    """The first try, right after the invoice is stored; run_deliveries retries."""
    deliver(invoice_id)


def run_deliveries(slot: datetime) -> dict[str, Any]:
    """The hourly job: every invoice not yet delivered is tried again; staff hear once of
    each still undelivered 2 business days after it was issued."""
    delivered = failed = late = 0
    for invoice_id in Invoice.objects.filter(emailed_at__isnull=True).values_list("pk",
                                                                                 flat=True):
        if deliver(invoice_id):
            delivered += 1
        else:
            failed += 1
    now = timezone.now()
    for invoice in Invoice.objects.filter(emailed_at__isnull=True,
                                          staff_alerted_at__isnull=True):
        if add_business_days(invoice.issued_at, DELIVERY_BUSINESS_DAYS) <= now:
            if Invoice.objects.filter(pk=invoice.pk, staff_alerted_at__isnull=True).update(
                    staff_alerted_at=now):
                _alert_staff(invoice)
                late += 1
    return {"delivered": delivered, "failed": failed, "staff_alerted": late}


def _alert_staff(invoice: Invoice) -> None:
    subject = (f"Invoice {invoice.display_number} for {invoice.bill_to.get('company')} is not "
               f"delivered after {DELIVERY_BUSINESS_DAYS} business days")
    body = (f"{subject}.\n\nAttempts: {invoice.delivery_attempts}\n"
            f"Last error: {invoice.delivery_error or '-'}\n"
            f"Back office: {settings.PUBLIC_URL}/admin/billing/invoice/{invoice.pk}/change/\n")
    staff = list(User.objects.filter(is_staff=True, is_active=True)
                 .values_list("email", flat=True))
    recipients = settings.BILLING_STAFF_EMAILS or staff
    if recipients:

        send_email.enqueue(to=recipients, subject=subject, text=body)
    else:
        mail_admins(subject, body)
