"""The billing page (H5 balance, H7 self-serve Free ↔ Startup, H8 quotes, H9 invoices, H10
card payments) and Stripe's webhook. Owners and admins only; invoices are company-scoped."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership
from plug2support.lib.ids import id_from

from . import actions
from .access import (
    block_of,
    pending_change,
    standard_plan,
    subscription_of,
    traffic_level,
    traffic_limit,
)
from .invoices import card_payments, render_pdf
from .models import Invoice, PlanKind, Term, TrafficStat
from .payments import PaymentError, WebhookRefused, create_checkout, handle_stripe_webhook
from .periods import period_at
from .pricing import DEFAULT_DISCOUNTS, discount_percent
from .traffic import company_traffic

log = logging.getLogger(__name__)


def traffic_chart(company_id: int, start: datetime, end: datetime, today_value: int) -> \
        dict[str, object]:
    """The counter day by day this period (the daily update's statistics, and now), drawn as
    bars in an SVG of fixed size."""
    days = (end.date() - start.date()).days + 1
    values = dict(TrafficStat.objects.filter(company_id=company_id, period_start=start)
                  .values_list("day", "interlocutors"))
    values[timezone.now().date()] = today_value
    highest = max(values.values(), default=0)
    top = max(highest, 1)  # the scale; the title names a highest only when there is one
    width, height = 600, 120
    step = width / days
    bars = []
    for i in range(days):
        day = start.date() + timedelta(days=i)
        value = values.get(day)
        if value is None:
            continue
        h = round(value / top * (height - 20), 1)
        bars.append({"x": round(i * step + 1, 1), "y": round(height - h, 1),
                     "w": round(max(step - 2, 1), 1), "h": h, "value": value, "day": day})
    return {"bars": bars, "width": width, "height": height, "highest": highest}


def terms() -> list[dict[str, object]]:
    """The terms one can choose (staff's, else the standard 1, 3, 6 and 12 months)."""
    months = list(Term.objects.values_list("months", flat=True)) or sorted(DEFAULT_DISCOUNTS)
    return [{"months": m, "discount_percent": discount_percent(m)} for m in months]


@membership_required(admin=True)
def billing(request: HttpRequest, membership: Membership) -> HttpResponse:
    company_id = membership.company_id
    subscription = subscription_of(company_id)
    now = timezone.now()
    start, end = period_at(subscription.anchor, now)
    live = company_traffic(company_id, start, now)
    limit = traffic_limit(subscription, start)
    quote = None
    # "Change plan" starts from the plan the company is on (never one it is not on).
    chosen = {"plan": request.POST.get("plan") or subscription.plan.code,
        "seats": request.POST.get("seats") or str(max(subscription.seats,
                                                      actions.seats_in_use(company_id))),
        "months": request.POST.get("months") or str(subscription.term_months)}
    if request.method == "POST":
        try:
            plan = standard_plan(chosen["plan"]) if chosen["plan"] in actions.SELF_SERVE \
                else None
            if plan is None:
                raise actions.BillingError("Choose Free or Startup.")
            seats, months = id_from(chosen["seats"]), id_from(chosen["months"])
            if request.POST.get("confirm"):
                quote, invoice = actions.do_change_subscription(company_id, plan, seats, months)
                messages.success(request, quote.summary if invoice is None else
                                 quote.invoiced(invoice))
                return redirect("billing")
            quote = actions.quote_change(company_id, plan, seats, months)
        except actions.BillingError as error:
            messages.error(request, str(error))
    reason, _ = block_of(subscription, now)
    pending = pending_change(company_id)
    invoices = Invoice.objects.filter(company_id=company_id).select_related("plan")
    return render(request, "billing/billing.html", {
        "subscription": subscription, "period_start": start, "period_end": end,
        "traffic": live.interlocutors, "limit": limit,
        "percent": min(round(100 * live.interlocutors / limit), 100) if limit else 0,
        "level": traffic_level(live.interlocutors, limit), "blocked": reason,
        "chart": traffic_chart(company_id, start, end, live.interlocutors),
        "plans": [standard_plan(PlanKind.FREE), standard_plan(PlanKind.STARTUP)],
        "terms": terms(), "chosen": chosen, "quote": quote,
        "invoices": invoices, "card_payments": card_payments(),
        "bank": settings.BILLING_BANK_DETAILS, "in_use": actions.seats_in_use(company_id),
        "pending": pending,
        # A mid-term change is invoiced to the end of the paid term; a subscription for its own.
        "pending_prorated": pending is not None and pending.period_end == subscription.paid_until,
    })


def _invoice(membership: Membership, invoice_id: int) -> Invoice:
    invoice = Invoice.objects.select_related("plan").filter(
        pk=invoice_id, company_id=membership.company_id).first()
    if invoice is None:
        raise Http404("No such invoice.")
    return invoice


@membership_required(admin=True)
def invoice_pdf(request: HttpRequest, membership: Membership, invoice_id: int) -> HttpResponse:
    invoice = _invoice(membership, invoice_id)
    response = HttpResponse(render_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="invoice-{invoice.display_number}.pdf"')
    return response


@require_POST
@membership_required(admin=True)
def pay_invoice(request: HttpRequest, membership: Membership, invoice_id: int) -> HttpResponse:
    invoice = _invoice(membership, invoice_id)
    back = request.build_absolute_uri("/billing/")
    try:
        url = create_checkout(invoice, success_url=f"{back}?paid={invoice.pk}",
                              cancel_url=back)
    except PaymentError as error:
        messages.error(request, str(error))
        return redirect("billing")
    return redirect(url)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's signed events: the signature is checked over the raw body."""
    try:
        result = handle_stripe_webhook(request.body,
                                       request.headers.get("Stripe-Signature", ""))
    except WebhookRefused as error:
        log.warning("Stripe webhook refused: %s", error)
        return JsonResponse({"error": str(error)}, status=400)
    return JsonResponse({"result": result})
