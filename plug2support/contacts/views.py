"""The customers page: contacts (identified visitors) and customer orgs (B6, D8, D9)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership

from .actions import do_delete_org, do_save_org
from .forms import CustomerOrgForm
from .models import Contact, CustomerOrg

CONTACTS_PER_PAGE = 50


def get_org_for_membership(membership: Membership, org_id: int) -> CustomerOrg:
    """The company's org, or 404 (never another company's)."""
    return get_object_or_404(CustomerOrg, pk=org_id, company_id=membership.company_id)


@membership_required()
def customers(request: HttpRequest, membership: Membership) -> HttpResponse:
    company_id = membership.company_id
    form: CustomerOrgForm | None = None
    if membership.is_admin:
        form = CustomerOrgForm(request.POST if request.method == "POST" else None,
                               company_id=company_id)
        if form.is_bound and form.is_valid():
            org = do_save_org(membership, form)
            if org is not None:
                messages.success(request, f"Customer org {org.name!r} added.")
                return redirect("customers")
    elif request.method == "POST":
        raise PermissionDenied("Only owners and admins can add customer orgs.")
    contacts = (Contact.objects.filter(company_id=company_id).select_related("org")
                .order_by("-last_seen_at", "-pk"))
    page = Paginator(contacts, CONTACTS_PER_PAGE).get_page(request.GET.get("page"))
    orgs = (CustomerOrg.objects.filter(company_id=company_id).select_related("default_owner")
            .annotate(contact_count=Count("contacts")))
    return render(request, "contacts/customers.html", {
        "contacts": page, "orgs": orgs, "form": form})


@membership_required(admin=True)
def org_edit(request: HttpRequest, membership: Membership, org_id: int) -> HttpResponse:
    org = get_org_for_membership(membership, org_id)
    title = org.name  # the form writes the posted values into `org`, even refused ones
    form = CustomerOrgForm(request.POST if request.method == "POST" else None, instance=org,
                           company_id=membership.company_id)
    if form.is_bound and form.is_valid():
        saved = do_save_org(membership, form)
        if saved is not None:
            messages.success(request, f"Customer org {saved.name!r} saved.")
            return redirect("customers")
    return render(request, "contacts/org_edit.html", {
        "org": org, "title": title, "form": form,
        "contacts": org.contacts.order_by("-last_seen_at")[:CONTACTS_PER_PAGE]})


@membership_required(admin=True)
@require_POST
def org_delete(request: HttpRequest, membership: Membership, org_id: int) -> HttpResponse:
    org = get_org_for_membership(membership, org_id)
    do_delete_org(membership, org)
    messages.success(request, f"Customer org {org.name!r} deleted; its contacts stay.")
    return redirect("customers")
