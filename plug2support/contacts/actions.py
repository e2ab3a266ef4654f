"""The only code that changes contacts and customer orgs: check_* validates, do_* writes.

Identification (B6) either is verified (the site's user id with its HMAC) or is a claim (an
e-mail address the visitor typed). A claim never lands on a verified contact, and a visitor
once verified is not moved by a later claim. A refused identification changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from plug2support.accounts.models import Membership, User
from plug2support.widgets.models import Visitor, Widget

from .attributes import AttributeError_, apply_identified, check_identified
from .domains import domain_and_parents, email_domain
from .forms import DUPLICATE_DOMAIN, CustomerOrgForm
from .identity import IdentityError, attributes_verified, check_identity
from .models import NAME_MAX, Contact, CustomerOrg, VisitorContact

# The conversation priorities of D9 (conversations.models.Priority LOW and NORMAL).
LOW_PRIORITY = 0
NORMAL_PRIORITY = 1

EMAIL_MAX = 254


# --- checks -------------------------------------------------------------------------------

def check_email(email: object) -> str:
    message = "Give a valid e-mail address."
    if not isinstance(email, str) or len(email) > EMAIL_MAX:
        raise IdentityError("invalid_email", message)
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise IdentityError("invalid_email", message) from None
    return email


def check_name(name: object) -> str:
    """'' when no name was given."""
    if name is None:
        return ""
    if not isinstance(name, str):
        raise IdentityError("invalid_name", "The name must be text.")
    name = " ".join(name.split())
    if len(name) > NAME_MAX or not name.isprintable():
        raise IdentityError("invalid_name",
                            f"The name must be at most {NAME_MAX} printable characters.")
    return name


@dataclass(frozen=True)
class Proof:
    """An identity the site vouched for (B6), checked whole: the verified user id and the
    profile that comes with it ('' when not given)."""

    user_id: str
    user_hash: str
    email: str
    name: str
    # M9: the custom attributes that came with it, checked in do_identify (None: none).
    attributes: object = None
    attributes_hash: object = None


def check_proof(widget: Widget, identity: object) -> Proof:
    """An `identity` object ({user_id, user_hash, email, name}, as the widget's hello and the
    session carry it) checked like `identify`: IdentityError in the same order."""
    if not isinstance(identity, dict):
        raise IdentityError("missing_user_id", "identity must be an object with user_id and "
                                               "user_hash.")
    uid = check_identity(widget, identity.get("user_id"), identity.get("user_hash"))
    if identity.get("attributes") is not None:
        try:  # refused here, as a whole, rather than after the visitor is opened
            check_identified(widget.company_id, identity["attributes"])
        except AttributeError_ as error:
            raise IdentityError(error.code, error.message) from None
    email = identity.get("email")
    return Proof(uid, identity["user_hash"],
                 check_email(email) if email is not None and email != "" else "",
                 check_name(identity.get("name")), identity.get("attributes"),
                 identity.get("attributes_hash"))


# --- reads --------------------------------------------------------------------------------

def contact_of(visitor: Visitor) -> Contact | None:
    return (Contact.objects.filter(visitor_links__visitor_id=visitor.pk)
            .select_related("org", "org__default_owner").first())


def contact_summary(contact: Contact) -> dict[str, object]:
    """What the widget is told of its own contact (`identified`, `welcome`, `session`)."""
    return {"id": contact.pk, "name": contact.name, "email": contact.email or None,
            "verified": contact.verified, "org": contact.org.name if contact.org else None}


def verified_user_of(visitor: Visitor) -> str | None:
    """The site user id of the verified contact this visitor belongs to, or None."""
    return (Contact.objects.filter(visitor_links__visitor_id=visitor.pk, verified=True)
            .values_list("external_id", flat=True).first())


IDENTITY_REQUIRED = "identity_required"
IDENTITY_MISMATCH = "identity_mismatch"


def check_may_open(visitor: Visitor, proven: str | None) -> None:
    """N7: who may read and write as this visitor. A visitor of a verified contact is that
    user's only: it opens with that user's proven identity, never without one or with
    another's. A widget that requires identity opens only for verified visitors. Raises
    IdentityError (identity_required, identity_mismatch)."""
    bound = verified_user_of(visitor)
    if bound is None and not visitor.widget.require_identity:
        return
    if bound is None or proven is None:
        raise IdentityError(IDENTITY_REQUIRED, "This chat needs the site's logged-in user: "
                                               "identify them (Plug2Support.identify).")
    if proven != bound:
        raise IdentityError(IDENTITY_MISMATCH, "This visitor belongs to another user: start "
                                               "a new visitor for this one.")


USER_ID_HEADER = "Plug2Support-User-Id"  # percent-encoded UTF-8
USER_HASH_HEADER = "Plug2Support-User-Hash"


def check_request_identity(visitor: Visitor, headers: Mapping[str, str]) -> None:
    """check_may_open for an HTTP request of the widget API: the identity it proves by the
    headers above (none: it proves nobody). Raises IdentityError; `identity_error_status`
    gives the HTTP status."""
    from urllib.parse import unquote

    user_id, user_hash = headers.get(USER_ID_HEADER), headers.get(USER_HASH_HEADER)
    proven = None
    if user_id is not None or user_hash is not None:
        try:
            user_id = unquote(user_id or "", errors="strict")
        except UnicodeDecodeError:
            user_id = ""
        proven = check_identity(visitor.widget, user_id, user_hash)
    check_may_open(visitor, proven)


def identity_error_status(error: IdentityError) -> int:
    """400 for a request that is malformed, 403 for an identity that is not this visitor's."""
    return 400 if error.code in ("missing_user_id", "malformed_hash") else 403


def org_for_email(company_id: int, email: str) -> CustomerOrg | None:
    """The company's customer org for the address's domain; a sub-domain falls back to its
    parent ('eu.example.com' → the org of 'example.com'), the most specific one winning."""
    domain = email_domain(email)
    if not domain:
        return None
    candidates = domain_and_parents(domain)
    orgs = {org.domain: org for org in CustomerOrg.objects.filter(company_id=company_id,
                                                                   domain__in=candidates)}
    return next((orgs[d] for d in candidates if d in orgs), None)


def priority_hint(visitor: Visitor, *, at: datetime | None = None) -> int:
    """D9: normal for a contact of a customer org that existed before the conversation
    (started `at`, now by default); low for the unidentified and for new orgs."""
    contact = contact_of(visitor)
    org_created_at = contact.org.created_at if contact and contact.org else None
    return priority_for_org(org_created_at, at or timezone.now())


def priority_for_org(org_created_at: datetime | None, started: datetime) -> int:
    """D9's rule, from the creation time of the contact's customer org (None: no contact or
    no org); conversations/first_message.py reads that time with its own statement."""
    if org_created_at is not None and org_created_at < started:
        return NORMAL_PRIORITY
    return LOW_PRIORITY


def default_owner_for(visitor: Visitor) -> User | None:
    """D8: the default owner of the visitor's customer org, while still in the company."""
    contact = contact_of(visitor)
    if contact is None or contact.org is None or contact.org.default_owner is None:
        return None
    company_id = visitor.widget.company_id
    owner = contact.org.default_owner
    if contact.company_id != company_id or not Membership.objects.filter(
            company_id=company_id, user=owner).exists():
        return None
    return owner


# --- identification -----------------------------------------------------------------------

def _link(visitor: Visitor, contact: Contact) -> None:
    VisitorContact.objects.update_or_create(
        visitor=visitor, defaults={"contact": contact, "linked_at": timezone.now()})
    if visitor.name != contact.name:
        Visitor.objects.filter(pk=visitor.pk).update(name=contact.name)
        visitor.name = contact.name


def _copy_name(contact: Contact) -> None:
    """The contact's name onto each of its visitors (Visitor.name: what the inbox list
    reads), after every write of the name."""
    Visitor.objects.filter(contact_link__contact=contact).exclude(name=contact.name).update(
        name=contact.name)


def do_identify(visitor: Visitor, *, user_id: object, user_hash: object,
                email: object = None, name: object = None, attributes: object = None,
                attributes_hash: object = None) -> Contact:
    """A verified identity (B6): the site vouches for its user with the widget's secret.
    The visitor is linked to that user's contact (leaving an unverified one if it had one);
    the e-mail address and name, when given, update the contact. Refused input raises
    IdentityError (missing_user_id, malformed_hash, wrong_hash, invalid_email,
    invalid_name; identity_mismatch when the visitor is another verified user's) and
    changes nothing. A visitor without an e-mail address takes the contact's."""
    widget = visitor.widget
    uid = check_identity(widget, user_id, user_hash)
    new_email = check_email(email) if email is not None and email != "" else ""
    new_name = check_name(name)
    identified = None
    if attributes is not None:
        # M9: checked whole first (a wrong type refuses the identify); verified only with
        # the site's HMAC of these very attributes, else a claim.
        try:
            identified = check_identified(widget.company_id, attributes)
        except AttributeError_ as error:
            raise IdentityError(error.code, error.message) from None
    now = timezone.now()
    with transaction.atomic():
        # One identification of a visitor at a time, so two cannot both find it free.
        Visitor.objects.select_for_update().filter(pk=visitor.pk).first()
        bound = verified_user_of(visitor)
        if bound is not None and bound != uid:
            # N7: the site logged in someone else; their history is not this visitor's.
            raise IdentityError(IDENTITY_MISMATCH, "This visitor belongs to another user: "
                                                   "start a new visitor for this one.")
        contact, _ = Contact.objects.get_or_create(
            company_id=widget.company_id, external_id=uid, defaults={"verified": True})
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        if new_email:
            contact.email = new_email
        renamed = bool(new_name) and contact.name != new_name
        if new_name:
            contact.name = new_name
        if contact.org_id is None and contact.email:
            contact.org = org_for_email(widget.company_id, contact.email)
        contact.last_seen_at = now
        contact.save(update_fields=["email", "name", "org", "last_seen_at"])
        _link(visitor, contact)
        if renamed:  # its other visitors (other browsers) too; an unchanged name costs nothing
            _copy_name(contact)
        if identified is not None:
            assert isinstance(attributes, dict)
            apply_identified(contact, identified, verified=attributes_verified(
                widget, uid, attributes, attributes_hash))
    if contact.email and not visitor.email:
        # Replies by e-mail (offline form) go to the verified address.
        Visitor.objects.filter(pk=visitor.pk).update(email=contact.email)
        visitor.email = contact.email
    return contact


def do_claim_email(visitor: Visitor, email: object, name: object = None, *,
                   new_visitor: bool = False) -> Contact:
    """An unverified claim (the offline form, C6): the visitor becomes the company's
    unverified contact of that address. Never a verified contact, even one with the same
    address; a visitor already verified stays with its verified contact, unchanged.
    `new_visitor`: the visitor was created in the caller's transaction (a mail's sender),
    so nobody else sees it: it has no contact yet, and its link is a plain insert."""
    address = check_email(email)
    new_name = check_name(name)
    company_id = visitor.widget.company_id
    # No savepoint of its own: no caller goes on after its failure inside a transaction
    # (a mail's processing has one savepoint a message), and each costs two statements.
    with transaction.atomic(savepoint=False):
        current = None if new_visitor else contact_of(visitor)
        if current is not None and current.verified:
            return current
        if current is not None and not current.email and not Contact.objects.filter(
                company_id=company_id, email=address, verified=False).exists():
            # A person an operator named (do_name_contact) gives their address: the same
            # contact, so the name, attributes and notes stay with them.
            return _adopt_address(current, address, new_name)
        contact, created = Contact.objects.get_or_create(
            company_id=company_id, email=address, verified=False,
            defaults={"name": new_name, "org": org_for_email(company_id, address)})
        if not created:
            contact = Contact.objects.select_for_update().get(pk=contact.pk)
            renamed = bool(new_name) and contact.name != new_name
            if new_name:
                contact.name = new_name
            if contact.org_id is None:
                contact.org = org_for_email(company_id, address)
            contact.last_seen_at = timezone.now()
            contact.save(update_fields=["name", "org", "last_seen_at"])
            if renamed:
                _copy_name(contact)
        if new_visitor:
            VisitorContact.objects.create(visitor=visitor, contact=contact,
                                          linked_at=timezone.now())
            if contact.name:
                Visitor.objects.filter(pk=visitor.pk).update(name=contact.name)
                visitor.name = contact.name
        else:
            _link(visitor, contact)
    return contact


def _adopt_address(contact: Contact, address: str, name: str) -> Contact:
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    contact.email = address
    contact.name = name or contact.name
    contact.org = contact.org or org_for_email(contact.company_id, address)
    contact.last_seen_at = timezone.now()
    contact.save(update_fields=["email", "name", "org", "last_seen_at"])
    _copy_name(contact)
    return contact


# --- the operator names a person (M8) -----------------------------------------------------

NAME_VERIFIED = "name_verified"
NAME_INPUT_MAX = 4 * NAME_MAX  # refused before any work: the limit is checked once collapsed


def do_name_contact(membership: Membership, visitor: Visitor, name: object) -> Contact | None:
    """THE write of a name an operator gives the person behind a visitor of their company
    (the sidebar's "Edit name"): stripped, inner runs of white space made one space, at most
    NAME_MAX printable characters; '' clears it. A verified contact's name is the site's
    (its identify): refused (name_verified). A visitor without a contact becomes an
    unverified contact without an address, so the name (and later notes) stay with the
    person; their own address, when they give it (do_claim_email), joins that contact.
    Refusals raise IdentityError and change nothing. None: nothing to name (cleared on a
    visitor without a contact)."""
    if visitor.widget.company_id != membership.company_id:
        raise PermissionDenied("This visitor belongs to another company.")
    if not isinstance(name, str) or len(name) > NAME_INPUT_MAX:
        raise IdentityError("invalid_name",
                            f"The name must be text of at most {NAME_MAX} characters.")
    new_name = check_name(name)
    with transaction.atomic():
        # The visitor first, as do_identify locks it: a concurrent identify waits here.
        Visitor.objects.select_for_update().filter(pk=visitor.pk).first()
        contact = contact_of(visitor)
        if contact is not None:
            contact = Contact.objects.select_for_update().get(pk=contact.pk)
            if contact.verified:
                raise IdentityError(NAME_VERIFIED, "This person's name comes from the site "
                                                   "(verified identify): change it there.")
            contact.name = new_name
            contact.save(update_fields=["name"])
        elif new_name:
            contact = Contact.objects.create(company_id=membership.company_id, name=new_name,
                                             verified=False)
            _link(visitor, contact)
        else:
            return None
        _copy_name(contact)
    return contact


# --- customer orgs ------------------------------------------------------------------------

def _check_admin(membership: Membership) -> None:
    if not membership.is_admin:
        raise PermissionDenied("Only owners and admins can change customer orgs.")


def do_save_org(membership: Membership, form: CustomerOrgForm) -> CustomerOrg | None:
    """Create or update an org from a valid form; contacts of its domain that belong to no
    org join it. None (with the error on the form) when another admin took the domain in
    the meantime."""
    _check_admin(membership)
    if form.company_id != membership.company_id:
        raise PermissionDenied("This form is for another company.")
    org: CustomerOrg = form.save(commit=False)
    org.company_id = membership.company_id
    try:
        with transaction.atomic():
            org.save()
            if org.domain:
                _adopt_contacts(org)
    except IntegrityError:
        form.add_error("domain", DUPLICATE_DOMAIN)
        return None
    return org


def _adopt_contacts(org: CustomerOrg) -> None:
    suffix_matches = (Contact.objects.filter(company_id=org.company_id, org__isnull=True)
                      .filter(email__iendswith="@" + org.domain)
                      | Contact.objects.filter(company_id=org.company_id, org__isnull=True,
                                               email__iendswith="." + org.domain))
    ids = [c.pk for c in suffix_matches.only("pk", "email")
           if (found := org_for_email(org.company_id, c.email)) and found.pk == org.pk]
    Contact.objects.filter(pk__in=ids, org__isnull=True).update(org=org)


def do_delete_org(membership: Membership, org: CustomerOrg) -> None:
    """The org goes; its contacts stay, without an org."""
    _check_admin(membership)
    if org.company_id != membership.company_id:
        raise PermissionDenied("This customer org belongs to another company.")
    org.delete()
