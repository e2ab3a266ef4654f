"""Contacts and customer orgs (B6, D8, D9): a visitor becomes a verified contact only with
the HMAC of its site user id made with its own widget's secret; an e-mail claim never lands
on a verified contact; contacts join customer orgs by domain; orgs decide priority and the
default owner. Everything is scoped to one company."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from plug2support.accounts.models import Membership
from plug2support.contacts import actions
from plug2support.contacts.identity import IdentityError, expected_hash, verify
from plug2support.contacts.models import Contact, CustomerOrg, VisitorContact
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Priority
from plug2support.widgets.models import Visitor, Widget

from .conftest import Tenant, logged_in_client


def visitor_of(tenant: Tenant, widget: Widget | None = None) -> Visitor:
    visitor, _ = do_identify_visitor(widget or tenant.widget, None)
    return visitor


def signed(widget: Widget, user_id: str) -> dict[str, str]:
    return {"user_id": user_id, "user_hash": expected_hash(widget.secret, user_id)}


def org(tenant: Tenant, name: str, domain: str = "", **extra: Any) -> CustomerOrg:
    return CustomerOrg.objects.create(company=tenant.company, name=name, domain=domain, **extra)


# --- identity -------------------------------------------------------------------------------

def test_the_hash_is_the_hex_hmac_sha256_of_the_user_id() -> None:
    # RFC 4231, test case 2.
    assert expected_hash("Jefe", "what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_a_valid_hash_links_the_visitor_to_a_verified_contact(acme: Tenant,
                                                              globex: Tenant) -> None:
    visitor = visitor_of(acme)
    contact = actions.do_identify(visitor, **signed(acme.widget, "user-42"),
                                  email="Ann@Example.com", name="  Ann   Lee ")
    assert contact.verified and contact.external_id == "user-42"
    assert contact.company == acme.company
    assert (contact.email, contact.name) == ("ann@example.com", "Ann Lee")
    assert actions.contact_of(visitor) == contact
    # The same user on another browser, through another widget of the company, is one contact.
    shop = Widget.objects.create(company=acme.company, name="Shop")
    again = actions.do_identify(visitor_of(acme, shop), **signed(shop, "user-42"))
    assert again == contact
    assert Contact.objects.filter(company=acme.company).count() == 1
    # The same user id at another company is another person.
    other = actions.do_identify(visitor_of(globex), **signed(globex.widget, "user-42"))
    assert other != contact and other.company == globex.company


@pytest.mark.parametrize("user_id,user_hash,code", [
    ("user-42", "0" * 64, "wrong_hash"),
    ("user-42", "", "malformed_hash"),
    ("user-42", "   ", "malformed_hash"),
    ("user-42", None, "malformed_hash"),
    ("user-42", 12345, "malformed_hash"),
    ("user-42", "abc", "malformed_hash"),
    ("user-42", "g" * 64, "malformed_hash"),
    ("user-42", "0" * 65, "malformed_hash"),
    ("", "0" * 64, "missing_user_id"),
    ("   ", "0" * 64, "missing_user_id"),
    (None, "0" * 64, "missing_user_id"),
    (42, "0" * 64, "missing_user_id"),
    ("x" * 201, "0" * 64, "missing_user_id"),
])
def test_a_malformed_or_wrong_identity_is_refused_and_changes_nothing(
        acme: Tenant, user_id: Any, user_hash: Any, code: str) -> None:
    visitor = visitor_of(acme)
    with pytest.raises(IdentityError) as refused:
        actions.do_identify(visitor, user_id=user_id, user_hash=user_hash, email="a@b.example")
    assert refused.value.code == code
    assert refused.value.message
    assert not Contact.objects.exists() and not VisitorContact.objects.exists()


@pytest.mark.parametrize("user_id", [42, 4.2, True, ["42"], {"id": 42}])
def test_a_user_id_that_is_not_a_string_says_to_send_a_string(acme: Tenant,
                                                              user_id: Any) -> None:
    """A JS developer passing `user.id` gets told what to do, not to "give the id"."""
    with pytest.raises(IdentityError) as refused:
        actions.do_identify(visitor_of(acme), user_id=user_id, user_hash="0" * 64)
    assert refused.value.code == "missing_user_id"
    assert "must be a string" in refused.value.message
    assert "String(user.id)" in refused.value.message
    with pytest.raises(IdentityError) as missing:
        actions.do_identify(visitor_of(acme), user_id=None, user_hash="0" * 64)
    assert "must be a string" not in missing.value.message


def test_the_hash_is_checked_case_sensitively_on_the_exact_user_id(acme: Tenant) -> None:
    good = expected_hash(acme.widget.secret, "user-42")
    assert verify(acme.widget, "user-42", good)
    assert not verify(acme.widget, "User-42", good)
    assert not verify(acme.widget, "user-42 ", good)
    with pytest.raises(IdentityError) as refused:
        verify(acme.widget, "user-42", good.upper())
    assert refused.value.code == "malformed_hash"


def test_a_hash_made_with_another_widgets_secret_is_refused(acme: Tenant,
                                                            globex: Tenant) -> None:
    visitor = visitor_of(acme)
    # Another company's widget, and another widget of the same company: neither vouches here.
    shop = Widget.objects.create(company=acme.company, name="Shop")
    for widget in (globex.widget, shop):
        with pytest.raises(IdentityError) as refused:
            actions.do_identify(visitor, **signed(widget, "user-42"), email="a@b.example")
        assert refused.value.code == "wrong_hash"
    assert not Contact.objects.exists() and not VisitorContact.objects.exists()
    assert actions.contact_of(visitor) is None


def test_a_refused_identity_leaves_the_visitors_contact_as_it_was(acme: Tenant) -> None:
    visitor = visitor_of(acme)
    contact = actions.do_identify(visitor, **signed(acme.widget, "user-1"), email="a@b.example")
    with pytest.raises(IdentityError):
        actions.do_identify(visitor, user_id="user-2", user_hash="0" * 64)
    # Good hash, bad profile: refused as a whole.
    with pytest.raises(IdentityError) as refused:
        actions.do_identify(visitor, **signed(acme.widget, "user-3"), email="not an address")
    assert refused.value.code == "invalid_email"
    with pytest.raises(IdentityError) as refused:
        actions.do_identify(visitor, **signed(acme.widget, "user-3"), name="x" * 151)
    assert refused.value.code == "invalid_name"
    assert list(Contact.objects.all()) == [contact]
    contact.refresh_from_db()
    assert contact.email == "a@b.example"
    assert actions.contact_of(visitor) == contact


def test_identifying_moves_the_visitor_from_its_unverified_contact(acme: Tenant) -> None:
    visitor = visitor_of(acme)
    claimed = actions.do_claim_email(visitor, "ann@example.com")
    assert not claimed.verified
    verified = actions.do_identify(visitor, **signed(acme.widget, "user-42"))
    assert actions.contact_of(visitor) == verified
    # The claim's data is not merged into the verified contact.
    assert verified.email == "" and Contact.objects.filter(pk=claimed.pk).exists()
    assert VisitorContact.objects.count() == 1


# --- unverified claims ----------------------------------------------------------------------

def test_an_email_claim_never_merges_into_a_verified_contact(acme: Tenant) -> None:
    real = visitor_of(acme)
    verified = actions.do_identify(real, **signed(acme.widget, "user-42"),
                                   email="ann@example.com")
    impostor = visitor_of(acme)
    claimed = actions.do_claim_email(impostor, "ANN@example.com", name="Ann")
    assert claimed != verified
    assert not claimed.verified and claimed.external_id is None
    assert claimed.email == "ann@example.com"
    assert actions.contact_of(impostor) == claimed
    assert list(verified.visitor_links.values_list("visitor_id", flat=True)) == [real.pk]
    verified.refresh_from_db()
    assert verified.name == ""


def test_a_verified_visitor_keeps_its_contact_when_it_claims_an_email(acme: Tenant) -> None:
    visitor = visitor_of(acme)
    verified = actions.do_identify(visitor, **signed(acme.widget, "user-42"),
                                   email="ann@example.com")
    assert actions.do_claim_email(visitor, "someone@else.example") == verified
    assert actions.contact_of(visitor) == verified
    assert Contact.objects.count() == 1
    verified.refresh_from_db()
    assert verified.email == "ann@example.com"


def test_two_claims_of_one_address_are_one_unverified_contact(acme: Tenant,
                                                             globex: Tenant) -> None:
    first = actions.do_claim_email(visitor_of(acme), "bob@example.com")
    second = actions.do_claim_email(visitor_of(acme), "Bob@Example.com ", name="Bob")
    assert first == second
    elsewhere = actions.do_claim_email(visitor_of(globex), "bob@example.com")
    assert elsewhere != first and elsewhere.company == globex.company


@pytest.mark.parametrize("email", ["", "   ", "not-an-address", None, 7, "a@" + "b" * 260])
def test_an_invalid_claim_is_refused_and_changes_nothing(acme: Tenant, email: Any) -> None:
    with pytest.raises(IdentityError) as refused:
        actions.do_claim_email(visitor_of(acme), email)
    assert refused.value.code == "invalid_email"
    assert not Contact.objects.exists()


# --- customer orgs --------------------------------------------------------------------------

def test_contacts_join_the_org_of_their_email_domain(acme: Tenant, globex: Tenant) -> None:
    initech = org(acme, "Initech", "initech.example")
    org(globex, "Initech at Globex", "initech.example")
    assert actions.org_for_email(acme.company.pk, "Peter@INITECH.example") == initech
    assert actions.org_for_email(acme.company.pk, "peter@eu.initech.example") == initech
    assert actions.org_for_email(acme.company.pk, "peter@notinitech.example") is None
    assert actions.org_for_email(acme.company.pk, "no address") is None
    eu = org(acme, "Initech EU", "eu.initech.example")
    assert actions.org_for_email(acme.company.pk, "peter@eu.initech.example") == eu

    assert actions.do_claim_email(visitor_of(acme), "peter@initech.example").org == initech
    verified = actions.do_identify(visitor_of(acme), **signed(acme.widget, "u1"),
                                   email="milton@initech.example")
    assert verified.org == initech
    assert actions.do_claim_email(visitor_of(acme), "joe@gmail.com").org is None


def test_a_new_org_takes_in_the_contacts_of_its_domain(acme: Tenant, globex: Tenant) -> None:
    ours = actions.do_claim_email(visitor_of(acme), "peter@initech.example")
    theirs = actions.do_claim_email(visitor_of(globex), "peter@initech.example")
    client = logged_in_client(acme.owner)
    response = client.post("/customers/", {"name": "Initech", "domain": "Initech.example"})
    assert response.status_code == 302
    initech = CustomerOrg.objects.get(company=acme.company)
    assert initech.domain == "initech.example"
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert ours.org == initech and theirs.org is None


def test_priority_is_normal_only_for_contacts_of_an_existing_customer_org(acme: Tenant) -> None:
    anonymous = visitor_of(acme)
    assert actions.priority_hint(anonymous) == Priority.LOW
    no_org = visitor_of(acme)
    actions.do_claim_email(no_org, "joe@unknown.example")
    assert actions.priority_hint(no_org) == Priority.LOW
    org(acme, "Initech", "initech.example")
    customer = visitor_of(acme)
    actions.do_identify(customer, **signed(acme.widget, "u1"), email="peter@initech.example")
    assert actions.priority_hint(customer) == Priority.NORMAL
    # An org created after the conversation started is a new org.
    started = timezone.now() - timedelta(minutes=5)
    assert actions.priority_hint(customer, at=started) == Priority.LOW


def test_the_default_owner_is_used_only_while_a_member(acme: Tenant, globex: Tenant) -> None:
    alice = acme.operators[0]
    org(acme, "Initech", "initech.example", default_owner=alice)
    org(acme, "Umbrella", "umbrella.example")
    customer = visitor_of(acme)
    actions.do_claim_email(customer, "peter@initech.example")
    assert actions.default_owner_for(customer) == alice
    ownerless = visitor_of(acme)
    actions.do_claim_email(ownerless, "ada@umbrella.example")
    assert actions.default_owner_for(ownerless) is None
    assert actions.default_owner_for(visitor_of(acme)) is None
    Membership.objects.filter(user=alice, company=acme.company).delete()
    assert actions.default_owner_for(customer) is None


# --- pages ----------------------------------------------------------------------------------

def test_the_customers_page_shows_only_the_companys_contacts_and_orgs(acme: Tenant,
                                                                     globex: Tenant) -> None:
    org(acme, "Initech", "initech.example", default_owner=acme.operators[0])
    org(globex, "Hooli", "hooli.example")
    actions.do_identify(visitor_of(acme), **signed(acme.widget, "u1"),
                        email="peter@initech.example", name="Peter")
    actions.do_claim_email(visitor_of(globex), "gavin@hooli.example")
    page = logged_in_client(acme.operators[1]).get("/customers/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "peter@initech.example" in html and "Verified" in html
    assert "Initech" in html and acme.operators[0].name in html
    assert "Hooli" not in html and "gavin@" not in html
    assert 'href="/customers/"' in html  # the sidebar link
    assert "Add a customer org" not in html  # operators see the lists only


def test_operators_cannot_create_or_edit_orgs(acme: Tenant) -> None:
    initech = org(acme, "Initech")
    client = logged_in_client(acme.operators[0])
    assert client.post("/customers/", {"name": "Umbrella"}).status_code == 403
    assert client.get(f"/customers/orgs/{initech.pk}/").status_code == 403
    assert client.post(f"/customers/orgs/{initech.pk}/", {"name": "X"}).status_code == 403
    assert client.post(f"/customers/orgs/{initech.pk}/delete").status_code == 403
    assert list(CustomerOrg.objects.values_list("name", flat=True)) == ["Initech"]


def test_another_companys_org_is_not_found(acme: Tenant, globex: Tenant) -> None:
    hooli = org(globex, "Hooli", "hooli.example")
    client = logged_in_client(acme.owner)
    assert client.get(f"/customers/orgs/{hooli.pk}/").status_code == 404
    assert client.post(f"/customers/orgs/{hooli.pk}/", {"name": "Mine"}).status_code == 404
    assert client.post(f"/customers/orgs/{hooli.pk}/delete").status_code == 404
    hooli.refresh_from_db()
    assert hooli.name == "Hooli" and hooli.company == globex.company


def test_an_admin_adds_edits_and_deletes_an_org(acme: Tenant) -> None:
    client = logged_in_client(acme.owner)
    alice = acme.operators[0]
    response = client.post("/customers/", {"name": " Initech ", "domain": "@initech.example",
                                           "default_owner": alice.pk})
    assert response.status_code == 302
    initech = CustomerOrg.objects.get(company=acme.company)
    assert (initech.name, initech.domain, initech.default_owner) == (
        "Initech", "initech.example", alice)
    contact = actions.do_claim_email(visitor_of(acme), "peter@initech.example")
    assert client.get(f"/customers/orgs/{initech.pk}/").status_code == 200
    response = client.post(f"/customers/orgs/{initech.pk}/",
                           {"name": "Initech Corp", "domain": "initech.example",
                            "default_owner": ""})
    assert response.status_code == 302
    initech.refresh_from_db()
    assert initech.name == "Initech Corp" and initech.default_owner is None
    assert client.post(f"/customers/orgs/{initech.pk}/delete").status_code == 302
    assert not CustomerOrg.objects.exists()
    contact.refresh_from_db()
    assert contact.org is None


@pytest.mark.parametrize("domain,error", [
    ("https://initech.example/", "Enter an e-mail domain"),
    ("initech", "Enter an e-mail domain"),
    ("peter@initech.example", "Enter an e-mail domain"),
    ("init ech.example", "Enter an e-mail domain"),
    ("-initech.example", "Enter an e-mail domain"),
    ("gmail.com", "public e-mail provider"),
    ("Umbrella.example", "Another customer org already has this domain."),
])
def test_a_bad_or_duplicate_domain_is_refused(acme: Tenant, globex: Tenant, domain: str,
                                              error: str) -> None:
    org(acme, "Umbrella", "umbrella.example")
    org(globex, "Initech at Globex", "initech.example")  # other companies may use it
    response = logged_in_client(acme.owner).post("/customers/", {"name": "New",
                                                                 "domain": domain})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert CustomerOrg.objects.filter(company=acme.company).count() == 1


def test_the_default_owner_must_be_a_member_of_the_company(acme: Tenant,
                                                          globex: Tenant) -> None:
    client = logged_in_client(acme.owner)
    response = client.post("/customers/", {"name": "Initech",
                                           "default_owner": globex.operators[0].pk})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert globex.operators[0].name not in response.content.decode()
    assert not CustomerOrg.objects.exists()


def test_editing_an_org_keeps_its_own_domain_but_not_anothers(acme: Tenant) -> None:
    initech = org(acme, "Initech", "initech.example")
    org(acme, "Umbrella", "umbrella.example")
    client = logged_in_client(acme.owner)
    url = f"/customers/orgs/{initech.pk}/"
    assert client.post(url, {"name": "Initech", "domain": "initech.example"}).status_code == 302
    response = client.post(url, {"name": "Initech", "domain": "umbrella.example"})
    assert "Another customer org already has this domain." in response.content.decode()
    initech.refresh_from_db()
    assert initech.domain == "initech.example"
