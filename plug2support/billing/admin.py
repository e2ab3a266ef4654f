"""The back office for billing (H7, H10): staff set plans and prices, put a company on a
Custom plan, sell traffic boosts, grant renewals and record bank transfers. Every change goes
through billing/actions.py or billing/payments.py, never a bare save, so blocks lift at once
and payments are counted once."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html

from . import actions
from .invoices import deliver, render_pdf
from .models import Alert, Invoice, Payment, PaymentMethod, Plan, Subscription, Term
from .payments import PaymentError, check_amount, do_record_payment


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "kind", "traffic_limit", "invited_users_limit",
                    "seat_price", "currency"]
    list_filter = ["kind"]


@admin.register(Term)
class TermAdmin(admin.ModelAdmin):
    list_display = ["months", "discount_percent"]


class SubscriptionForm(forms.ModelForm):
    add_boost = forms.IntegerField(
        required=False, min_value=1, max_value=1_000_000,
        help_text="A traffic boost package: interlocutors added to the current period only.")
    renew_months = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None,
        choices=[("", "—"), (1, "1 month"), (3, "3 months"), (6, "6 months"),
                 (12, "12 months")],
        help_text="Extend the paid period from where it ends (a renewal paid outside Stripe).")

    class Meta:
        model = Subscription
        fields = ["plan", "seats", "term_months", "credit"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        plan = data.get("plan")
        if plan is not None and self.instance.pk and plan != self.instance.plan:
            try:
                actions.check_plan(self.instance, plan)
            except actions.BillingError as error:
                raise ValidationError({"plan": str(error)}) from None
        return data


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ["company", "plan", "seats", "paid_until", "traffic", "blocks",
                    "last_update"]
    list_filter = ["plan__kind", "payment_blocked"]
    search_fields = ["company__name"]
    readonly_fields = ["company", "anchor", "paid_until", "period_start", "traffic",
                       "over_limit_since", "boost", "boost_period_start",
                       "traffic_blocked_period", "payment_blocked", "last_update"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made with the company (billing/access.py)

    @admin.display(description="blocked")
    def blocks(self, subscription: Subscription) -> str:
        found = [name for name, on in (("traffic", subscription.traffic_blocked_period),
                                       ("payment", subscription.payment_blocked)) if on]
        return ", ".join(found) or "—"

    def save_model(self, request: HttpRequest, obj: Subscription, form: Any,
                   change: bool) -> None:
        plan = form.cleaned_data["plan"]
        Subscription.objects.filter(pk=obj.pk).update(
            seats=obj.seats, term_months=obj.term_months, credit=obj.credit)
        if plan.pk != Subscription.objects.get(pk=obj.pk).plan_id:
            actions.do_change_plan(obj.company_id, plan)
        if form.cleaned_data.get("add_boost"):
            actions.do_add_boost(obj.company_id, form.cleaned_data["add_boost"])
        if form.cleaned_data.get("renew_months"):
            try:
                actions.do_renew(obj.company_id, form.cleaned_data["renew_months"])
            except actions.BillingError as error:
                messages.error(request, str(error))
        obj.refresh_from_db()


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    readonly_fields = ["amount", "method", "external_id", "received_at", "recorded_by", "note"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["display_number", "company", "kind", "issued_at", "total", "amount_paid",
                    "status", "emailed_at", "pdf_link"]
    list_filter = ["status", "kind"]
    search_fields = ["number", "company__name"]
    inlines = [PaymentInline]
    actions = ["retry_delivery"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Invoice._meta.fields]  # an invoice never changes

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # numbers have no gaps

    @admin.display(description="PDF")
    def pdf_link(self, invoice: Invoice) -> str:
        return format_html('<a href="{}">PDF</a>',
                           reverse("admin:billing_invoice_pdf", args=[invoice.pk]))

    def get_urls(self) -> list[Any]:
        return [path("<int:invoice_id>/pdf/", self.admin_site.admin_view(self.pdf),
                     name="billing_invoice_pdf"), *super().get_urls()]

    def pdf(self, request: HttpRequest, invoice_id: int) -> HttpResponse:
        invoice = Invoice.objects.select_related("plan").get(pk=invoice_id)
        response = HttpResponse(render_pdf(invoice), content_type="application/pdf")
        response["Content-Disposition"] = (
            f'attachment; filename="invoice-{invoice.display_number}.pdf"')
        return response

    @admin.action(description="Retry the e-mail delivery now")
    def retry_delivery(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        sent = sum(deliver(invoice.pk) for invoice in queryset.filter(emailed_at__isnull=True))
        messages.info(request, f"{sent} invoice(s) delivered.")


class PaymentForm(forms.ModelForm):
    class Meta:
        model = Payment
        fields = ["invoice", "amount", "method", "external_id", "note"]
        help_texts = {"external_id": "The bank's transaction id: the same one is never "
                                     "recorded twice."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["method"].initial = PaymentMethod.BANK_TRANSFER

    def clean_amount(self) -> Any:
        try:
            return check_amount(self.cleaned_data.get("amount"))
        except PaymentError as error:
            raise ValidationError(str(error)) from None


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    """Staff record a bank transfer here (H10)."""

    form = PaymentForm
    list_display = ["invoice", "amount", "method", "external_id", "received_at", "recorded_by"]
    list_filter = ["method"]
    search_fields = ["invoice__number", "external_id", "invoice__company__name"]
    raw_id_fields = ["invoice"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Payment, form: Any, change: bool) -> None:
        data = form.cleaned_data
        recorded = do_record_payment(data["invoice"].pk, data["amount"], method=data["method"],
                                     external_id=data.get("external_id") or None,
                                     recorded_by=request.user,  # type: ignore[arg-type]
                                     note=data.get("note") or "")
        obj.pk = recorded.pk
        obj.__dict__.update(recorded.__dict__)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["company", "cause", "period", "created_at"]
    list_filter = ["cause"]
    search_fields = ["company__name"]
