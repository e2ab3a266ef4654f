"""The only code that changes a company's support addresses and connected mailboxes (the
E-mail settings page, F1 and F4). Owners and admins only; every row is the member's company's
(the views fetch them so, and each writer checks again)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction

from plug2support.accounts.models import Membership
from plug2support.lib import secretbox

from .addresses import new_local_part
from .forms import AddressForm, MailboxForm
from .models import MailboxConnection, SupportAddress

ADDRESSES_MAX = 20


class AddressError(Exception):
    """A change the page refuses, said to the admin as it is."""


def _check(membership: Membership, company_id: int | None = None) -> None:
    if not membership.is_admin:
        raise PermissionDenied("Only owners and admins can change the e-mail settings.")
    if company_id is not None and company_id != membership.company_id:
        raise PermissionDenied("This belongs to another company.")


def _encrypt(text: str) -> str:
    return secretbox.encrypt(text)


def decrypt_password(mailbox: MailboxConnection) -> str:
    """The saved password, for a connection test with the password field left empty."""
    return secretbox.decrypt(mailbox.password_encrypted)


# --- support addresses ----------------------------------------------------------------------

def do_add_address(membership: Membership, form: AddressForm) -> SupportAddress:
    _check(membership, form.company_id)
    if SupportAddress.objects.filter(company_id=membership.company_id).count() \
            >= ADDRESSES_MAX:
        raise AddressError(f"A company has at most {ADDRESSES_MAX} support addresses.")
    support: SupportAddress = form.save(commit=False)
    support.company_id = membership.company_id
    support.local_part = new_local_part(membership.company.name)
    support.is_default = False
    support.save()
    return support


def do_save_address(membership: Membership, form: AddressForm) -> SupportAddress:
    _check(membership, form.instance.company_id)
    support: SupportAddress = form.save(commit=False)
    support.save(update_fields=["widget", "own_address", "display_name"])
    return support


def do_delete_address(membership: Membership, support: SupportAddress) -> None:
    _check(membership, support.company_id)
    if support.is_default:
        raise AddressError("The default address cannot be deleted: make another one the "
                           "default first.")
    # Its mailboxes go with it (CASCADE); mail already received keeps its conversations.
    support.delete()


@transaction.atomic
def do_make_default(membership: Membership, support: SupportAddress) -> SupportAddress:
    """One default per company (a constraint): the old one is unset first, in one
    transaction, with the company's addresses locked so two admins cannot make two."""
    _check(membership, support.company_id)
    locked = list(SupportAddress.objects.select_for_update()
                  .filter(company_id=support.company_id).order_by("pk"))
    if not any(a.pk == support.pk for a in locked):
        raise AddressError("This address was deleted in the meantime.")
    SupportAddress.objects.filter(company_id=support.company_id, is_default=True) \
        .exclude(pk=support.pk).update(is_default=False)
    SupportAddress.objects.filter(pk=support.pk).update(is_default=True)
    support.is_default = True
    return support


# --- connected mailboxes (IMAP, F4) -----------------------------------------------------------

# What names the mailbox: a change of any of these makes another mailbox, whose UIDs say
# nothing of the old one's, so the fetcher starts over.
_IDENTITY = ("host", "port", "username", "folder")


def do_save_mailbox(membership: Membership, support: SupportAddress,
                    form: MailboxForm) -> MailboxConnection:
    """Connect a mailbox to `support` (a new form) or change one (a bound instance). A
    password is stored only encrypted, and only when one was typed."""
    _check(membership, support.company_id)
    mailbox: MailboxConnection = form.save(commit=False)
    if mailbox.pk is not None:
        _check(membership, mailbox.company_id)
        before = MailboxConnection.objects.filter(pk=mailbox.pk).values(*_IDENTITY).first()
        if before is not None and any(before[f] != getattr(mailbox, f) for f in _IDENTITY):
            mailbox.uidvalidity, mailbox.last_uid = None, 0
    mailbox.company_id = support.company_id
    mailbox.address = support
    password = form.cleaned_data.get("password") or ""
    if password:
        mailbox.password_encrypted = _encrypt(password)
    # Settings just changed (a new password, say): try at once, not after the back-off.
    mailbox.failures, mailbox.next_attempt_at, mailbox.last_error = 0, None, ""
    mailbox.save()
    return mailbox


def do_set_mailbox_enabled(membership: Membership, mailbox: MailboxConnection,
                           enabled: bool) -> None:
    _check(membership, mailbox.company_id)
    MailboxConnection.objects.filter(pk=mailbox.pk).update(
        enabled=enabled, failures=0, next_attempt_at=None)
    mailbox.enabled = enabled


def do_delete_mailbox(membership: Membership, mailbox: MailboxConnection) -> None:
    _check(membership, mailbox.company_id)
    # The mail it brought stays (InboundMail.mailbox is SET_NULL).
    mailbox.delete()
