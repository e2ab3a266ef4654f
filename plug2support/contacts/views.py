"""The customers page: contacts (identified visitors) and customer orgs (B6, D8, D9)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership
from plug2support.lib.ids import id_from

from .actions import do_delete_org, do_save_org
from .attributes import (
    AttributeError_,
    do_define_attribute,
    do_delete_attribute,
    do_set_attribute,
)
from .fields import contact_fields
from .forms import CustomerOrgForm
from .models import (
    AttributeDefinition,
    AttributeSource,
    AttributeType,
    Contact,
    CustomerOrg,
    Note,
    UnknownAttribute,
)
from .notes import NoteError, do_add_note, do_delete_note

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
        "notes": Note.objects.filter(org=org).select_related("author"), "org": org,
        "title": title, "form": form,
        "contacts": org.contacts.order_by("-last_seen_at")[:CONTACTS_PER_PAGE]})


@membership_required(admin=True)
@require_POST
def org_delete(request: HttpRequest, membership: Membership, org_id: int) -> HttpResponse:
    org = get_org_for_membership(membership, org_id)
    do_delete_org(membership, org)
    messages.success(request, f"Customer org {org.name!r} deleted; its contacts stay.")
    return redirect("customers")


# --- M9: attributes and notes from the console ---------------------------------------------

def _error(code: str, message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@membership_required()
def contact_fields_json(request: HttpRequest, membership: Membership,
                        contact_id: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=contact_id, company_id=membership.company_id)
    return JsonResponse(contact_fields(membership.company_id, contact.pk, contact.org_id))


@membership_required()
@require_POST
def set_attribute(request: HttpRequest, membership: Membership,
                  contact_id: int) -> HttpResponse:
    """POST key, value: one attribute of the company's contact set by an operator ('' clears);
    a wrong type is refused with the attribute's name and type, nothing stored."""
    contact = get_object_or_404(Contact, pk=contact_id, company_id=membership.company_id)
    try:
        do_set_attribute(membership.company_id, contact, request.POST.get("key"),
                         request.POST.get("value"), source=AttributeSource.OPERATOR,
                         user=membership.user)
    except AttributeError_ as error:
        return _error(error.code, error.message)
    return JsonResponse(contact_fields(membership.company_id, contact.pk, contact.org_id))


@membership_required()
@require_POST
def add_note(request: HttpRequest, membership: Membership, kind: str,
             target_id: int) -> HttpResponse:
    """POST body: a note on the company's contact (kind "contacts") or org ("orgs")."""
    if kind not in ("contacts", "orgs"):
        raise Http404("No such page.")
    target: Contact | CustomerOrg = (
        get_object_or_404(Contact, pk=target_id, company_id=membership.company_id)
        if kind == "contacts"
        else get_object_or_404(CustomerOrg, pk=target_id, company_id=membership.company_id))
    try:
        do_add_note(membership, target, request.POST.get("body"))
    except NoteError as error:
        if request.POST.get("back") == "org":
            messages.error(request, error.message)
            return redirect("customer_org", org_id=target.pk)
        return _error(error.code, error.message)
    if request.POST.get("back") == "org":
        return redirect("customer_org", org_id=target.pk)
    contact_id = target.pk if isinstance(target, Contact) else None
    org_id = target.org_id if isinstance(target, Contact) else target.pk
    return JsonResponse(contact_fields(membership.company_id, contact_id, org_id), status=201)


@membership_required()
@require_POST
def delete_note(request: HttpRequest, membership: Membership, note_id: int) -> HttpResponse:
    note = get_object_or_404(Note, pk=note_id, company_id=membership.company_id)
    do_delete_note(membership, note)
    if request.POST.get("back") == "org" and note.org_id:
        return redirect("customer_org", org_id=note.org_id)
    return JsonResponse({"deleted": note_id})


@membership_required(admin=True)
def attribute_settings(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The admins' attributes page: definitions, a form to add one, unknown identify keys."""
    error = None
    if request.method == "POST":
        try:
            if request.POST.get("delete"):
                definition = get_object_or_404(AttributeDefinition,
                                               pk=id_from(request.POST["delete"]) or 0,
                                               company_id=membership.company_id)
                do_delete_attribute(membership, definition)
                messages.success(request, f"Attribute {definition.key} deleted.")
            else:
                made = do_define_attribute(
                    membership, request.POST.get("key"), request.POST.get("label"),
                    request.POST.get("type"), request.POST.get("choices", ""))
                messages.success(request, f"Attribute {made.key} added.")
            return redirect("attribute_settings")
        except AttributeError_ as refused:
            error = refused.message
    return render(request, "contacts/attributes.html", {
        "definitions": AttributeDefinition.objects.filter(company_id=membership.company_id),
        "unknown": UnknownAttribute.objects.filter(company_id=membership.company_id),
        "types": AttributeType.choices, "error": error, "posted": request.POST})
