"""The E-mail settings page (F1, F4): the company's support addresses, how to forward mail to
them, a test mail that shows when it arrived, and connected mailboxes (IMAP). Every member
sees it; owners and admins change it (settings_actions.py). Every row is fetched with the
member's company: another company's id is a 404."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership

from . import imap, testmail
from .forms import AddressForm, MailboxForm
from .models import MailboxConnection, SupportAddress
from .settings_actions import (
    AddressError,
    decrypt_password,
    do_add_address,
    do_delete_address,
    do_delete_mailbox,
    do_make_default,
    do_save_address,
    do_save_mailbox,
    do_set_mailbox_enabled,
)
from .support import default_address


def _address(membership: Membership, address_id: int) -> SupportAddress:
    return get_object_or_404(SupportAddress.objects.select_related("widget"), pk=address_id,
                             company_id=membership.company_id)


def _mailbox(membership: Membership, mailbox_id: int) -> MailboxConnection:
    return get_object_or_404(MailboxConnection.objects.select_related("address"),
                             pk=mailbox_id, company_id=membership.company_id)


def _check_connection(host: str, port: int, security: str, username: str, password: str,
                      folder: str) -> str | None:
    """None when the mailbox answers (logged in, folder selected), else what went wrong."""
    # A seam of its own: the page's tests replace it (the fetcher is tested on Dovecot).
    return imap.check_connection(host, port, security, username, password, folder)


def _settings_url(support: SupportAddress | None = None) -> str:
    url = reverse("email_settings")
    return f"{url}#address-{support.pk}" if support is not None else url


@membership_required()
def email_settings(request: HttpRequest, membership: Membership) -> HttpResponse:
    company_id = membership.company_id
    if request.method == "POST" and not membership.is_admin:
        raise PermissionDenied("Only owners and admins can change the e-mail settings.")
    try:
        default_address(membership.company)  # made on the first visit
    except SupportAddress.DoesNotExist:
        return render(request, "mail/settings.html", {"no_widget": True})
    form = None
    if membership.is_admin:
        form = AddressForm(request.POST if request.method == "POST" else None,
                           company_id=company_id)
        if form.is_bound and form.is_valid():
            try:
                support = do_add_address(membership, form)
            except AddressError as error:
                messages.error(request, str(error))
            else:
                messages.success(request, f"Address {support.address} added: forward mail "
                                          "to it as below.")
                return redirect(_settings_url(support))
    addresses = list(SupportAddress.objects.filter(company_id=company_id)
                     .select_related("widget").prefetch_related("mailboxes"))
    return render(request, "mail/settings.html", {
        "addresses": [(a, testmail.status(a)) for a in addresses],
        "default": next((a for a in addresses if a.is_default), None), "form": form,
        "inbound_domain": settings.INBOUND_EMAIL_DOMAIN,
    })


@membership_required(admin=True)
def address_edit(request: HttpRequest, membership: Membership, address_id: int) -> HttpResponse:
    support = _address(membership, address_id)
    form = AddressForm(request.POST if request.method == "POST" else None, instance=support,
                       company_id=membership.company_id)
    if form.is_bound and form.is_valid():
        do_save_address(membership, form)
        messages.success(request, f"{support.address} saved.")
        return redirect(_settings_url(support))
    support.refresh_from_db()  # the form wrote refused values into it
    return render(request, "mail/address.html", {
        "support": support, "form": form, "mailboxes": support.mailboxes.order_by("pk")})


@membership_required(admin=True)
@require_POST
def address_delete(request: HttpRequest, membership: Membership, address_id: int) -> HttpResponse:
    support = _address(membership, address_id)
    try:
        do_delete_address(membership, support)
    except AddressError as error:
        messages.error(request, str(error))
        return redirect(_settings_url(support))
    messages.success(request, f"{support.address} deleted: mail to it is refused from now on.")
    return redirect("email_settings")


@membership_required(admin=True)
@require_POST
def address_default(request: HttpRequest, membership: Membership,
                    address_id: int) -> HttpResponse:
    support = _address(membership, address_id)
    try:
        do_make_default(membership, support)
    except AddressError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{support.address} is the default address now.")
    return redirect(_settings_url(support))


@membership_required(admin=True)
@require_POST
def send_test(request: HttpRequest, membership: Membership, address_id: int) -> HttpResponse:
    support = _address(membership, address_id)
    try:
        testmail.do_send_test_mail(support)
    except testmail.MailTestRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Test mail sent to {testmail.recipient_for(support)}.")
    return redirect(_settings_url(support))


@membership_required()
@require_GET
def test_status(request: HttpRequest, membership: Membership, address_id: int) -> HttpResponse:
    """What the page polls while a test is on its way (static/console/test_mail.js)."""
    response = JsonResponse(testmail.status(_address(membership, address_id)))
    response["Cache-Control"] = "no-store"
    return response


# --- connected mailboxes -------------------------------------------------------------------

def _mailbox_page(request: HttpRequest, membership: Membership, support: SupportAddress,
                  mailbox: MailboxConnection | None) -> HttpResponse:
    form = MailboxForm(request.POST if request.method == "POST" else None, instance=mailbox,
                       initial=None if mailbox else {"port": 993, "folder": "INBOX"})
    check: dict[str, Any] | None = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if "check" in request.POST:
            kept = ""
            if mailbox is not None and not data.get("password"):
                try:
                    kept = decrypt_password(mailbox)  # not a field: the form left it
                except ValueError:  # secretbox.SecretBoxError: made under another key
                    check = {"error": "The saved password cannot be read any more: enter "
                                      "it again."}
            if check is None:
                error = _check_connection(data["host"], data["port"], data["security"],
                                          data["username"], form.password_for_check(kept),
                                          data["folder"])
                check = {"error": error}
        else:
            saved = do_save_mailbox(membership, support, form)
            messages.success(request, f"Mailbox {saved.username} on {saved.host} saved: new "
                                      "mail is fetched from it from now on; its state shows "
                                      "below.")
            return redirect(_settings_url(support))
    if mailbox is not None:
        mailbox.refresh_from_db()  # the form wrote the posted values into it
    return render(request, "mail/mailbox.html", {
        "support": support, "mailbox": mailbox, "form": form, "check": check})


@membership_required(admin=True)
def mailbox_new(request: HttpRequest, membership: Membership, address_id: int) -> HttpResponse:
    return _mailbox_page(request, membership, _address(membership, address_id), None)


@membership_required(admin=True)
def mailbox_edit(request: HttpRequest, membership: Membership, mailbox_id: int) -> HttpResponse:
    mailbox = _mailbox(membership, mailbox_id)
    return _mailbox_page(request, membership, mailbox.address, mailbox)


@membership_required(admin=True)
@require_POST
def mailbox_enabled(request: HttpRequest, membership: Membership,
                    mailbox_id: int) -> HttpResponse:
    mailbox = _mailbox(membership, mailbox_id)
    enabled = request.POST.get("enabled") == "1"
    do_set_mailbox_enabled(membership, mailbox, enabled)
    messages.success(request, f"Mailbox {mailbox.username} on {mailbox.host} "
                              f"{'turned on' if enabled else 'paused'}.")
    return redirect(_settings_url(mailbox.address))


@membership_required(admin=True)
@require_POST
def mailbox_delete(request: HttpRequest, membership: Membership, mailbox_id: int) -> HttpResponse:
    mailbox = _mailbox(membership, mailbox_id)
    do_delete_mailbox(membership, mailbox)
    messages.success(request, f"Mailbox {mailbox.username} on {mailbox.host} removed; the mail "
                              "it brought stays.")
    return redirect(_settings_url(mailbox.address))
