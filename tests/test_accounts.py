"""Accounts (A1–A4): sign up, log in/out, password reset over real SMTP, invitations,
roles, several companies per user."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from plug2support.accounts.models import Company, Invitation, Membership, Role, User

from .conftest import PASSWORD, Inbox, Tenant, body_of, logged_in_client
from .test_two_factor import totp


def test_production_hashes_passwords_with_argon2() -> None:
    from django.contrib.auth.hashers import make_password

    from plug2support import settings as project_settings

    # The tests swap in a fast hasher; the project's own setting is what production runs.
    assert project_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    from django.contrib.auth.hashers import Argon2PasswordHasher

    encoded = make_password(PASSWORD, hasher=Argon2PasswordHasher())
    assert encoded.startswith("argon2$argon2id$")


def test_sign_up_creates_a_company_with_the_user_as_owner(db: Any, client: Client) -> None:
    response = client.post("/signup/", {"name": "Ada Lovelace", "email": "Ada@Example.com",
                                        "company_name": "Analytical", "password": PASSWORD})
    assert response.status_code == 302
    user = User.objects.get(email="ada@example.com")
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER and membership.company.name == "Analytical"
    assert user.check_password(PASSWORD)
    assert client.get("/inbox/").status_code == 200


@pytest.mark.parametrize("data,field", [
    ({"name": "A", "email": "not-an-email", "password": PASSWORD}, "email"),
    ({"name": "A", "email": "a@example.com", "password": "123"}, "password"),
    ({"name": "A", "email": "a@example.com", "password": "password"}, "password"),
    ({"name": "", "email": "a@example.com", "password": PASSWORD}, "name"),
])
def test_sign_up_refuses_bad_input_and_creates_nothing(db: Any, client: Client,
                                                       data: dict[str, str], field: str) -> None:
    response = client.post("/signup/", data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not User.objects.exists() and not Company.objects.exists()


def test_sign_up_with_a_taken_email_is_refused(acme: Tenant, client: Client) -> None:
    response = client.post("/signup/", {"name": "X", "email": acme.owner.email.upper(),
                                        "password": PASSWORD})
    assert "already exists" in response.content.decode()
    assert Company.objects.count() == 1


def test_log_in_and_log_out(acme: Tenant, client: Client) -> None:
    bad = client.post("/accounts/login/", {"username": acme.owner.email, "password": "wrong"})
    assert bad.status_code == 200 and "_auth_user_id" not in client.session
    ok = client.post("/accounts/login/", {"username": acme.owner.email, "password": PASSWORD})
    assert ok.status_code == 302 and ok["Location"] == "/inbox/"
    client.post("/accounts/logout/")
    assert client.get("/inbox/").status_code == 302


# --- password reset through a real SMTP server ---------------------------------------------

def test_password_reset_by_email_over_smtp(acme: Tenant, client: Client, smtp: Inbox) -> None:
    response = client.post("/accounts/password-reset/", {"email": acme.owner.email},
                           HTTP_HOST="127.0.0.1")
    assert response.status_code == 302
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["To"] == acme.owner.email
    assert "Reset your Plug2Support password" in message["Subject"]
    assert "<a href=" in body_of(message, "html")
    link = re.search(r"https?://\S+/accounts/reset/\S+/", body_of(message))
    assert link is not None
    path = "/" + link.group(0).split("/", 3)[3]
    form = client.get(path, follow=True)
    assert form.context["validlink"]
    new = "An0ther-long-passw0rd"
    done = client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert done.status_code == 302
    acme.owner.refresh_from_db()
    assert acme.owner.check_password(new)


def test_password_reset_for_an_unknown_address_sends_nothing(db: Any, client: Client,
                                                             smtp: Inbox) -> None:
    response = client.post("/accounts/password-reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302  # the same answer: no account enumeration
    assert smtp.messages == []


# --- invitations and roles ----------------------------------------------------------------

def invite(client: Client, email: str, role: str = "operator") -> Any:
    return client.post("/team/", {"email": email, "role": role})


def test_owner_invites_an_operator_who_joins_with_a_name_and_password(acme: Tenant) -> None:
    owner = logged_in_client(acme.owner)
    assert invite(owner, "new@people.test").status_code == 302
    invitation = Invitation.objects.get(email="new@people.test")
    assert invitation.company == acme.company
    [email] = mail.outbox
    assert email.to == ["new@people.test"]
    assert invitation.token in email.body
    newcomer = Client()
    page = newcomer.get(f"/invitations/{invitation.token}/")
    assert acme.company.name in page.content.decode()
    joined = newcomer.post(f"/invitations/{invitation.token}/",
                           {"name": "New Person", "password": PASSWORD})
    assert joined.status_code == 302
    user = User.objects.get(email="new@people.test")
    assert Membership.objects.get(user=user).role == Role.OPERATOR
    again = Client().post(f"/invitations/{invitation.token}/", {"name": "X", "password": PASSWORD})
    assert again.status_code == 410


def test_an_operator_cannot_invite(acme: Tenant) -> None:
    operator = logged_in_client(acme.operators[0])
    assert invite(operator, "x@people.test").status_code == 403
    assert not Invitation.objects.exists() and mail.outbox == []


def test_an_admin_cannot_invite_an_owner(acme: Tenant) -> None:
    admin_user = acme.operators[0]
    Membership.objects.filter(user=admin_user).update(role=Role.ADMIN)
    response = invite(logged_in_client(admin_user), "boss@people.test", role="owner")
    assert "Only an owner" in response.content.decode()
    assert not Invitation.objects.exists()


def test_a_user_can_belong_to_two_companies_and_switch(acme: Tenant, globex: Tenant) -> None:
    owner = logged_in_client(globex.owner)
    invite(owner, acme.operators[0].email)
    invitation = Invitation.objects.get()
    alice = logged_in_client(acme.operators[0])
    assert alice.get(f"/invitations/{invitation.token}/").status_code == 200
    alice.post(f"/invitations/{invitation.token}/")
    assert set(Membership.objects.filter(user=acme.operators[0])
               .values_list("company__name", flat=True)) == {"Acme", "Globex"}
    page = alice.get("/inbox/")
    assert page.context["company"].name == "Globex"  # the company just joined
    alice.post(f"/accounts/switch/{acme.company.pk}/")
    assert alice.get("/inbox/").context["company"].name == "Acme"


def test_switching_to_a_company_you_do_not_belong_to_is_not_found(acme: Tenant,
                                                                  globex: Tenant) -> None:
    alice = logged_in_client(acme.operators[0])
    assert alice.post(f"/accounts/switch/{globex.company.pk}/").status_code == 404
    assert alice.get("/inbox/").context["company"].name == "Acme"


def test_the_team_page_shows_only_your_company(acme: Tenant, globex: Tenant) -> None:
    page = logged_in_client(acme.owner).get("/team/").content.decode()
    assert acme.operators[0].email in page
    assert globex.owner.email not in page


def test_staff_use_the_admin_back_office(acme: Tenant) -> None:
    staff = User.objects.create_superuser(email="staff@plug2support.test", name="Staff",
                                          password=PASSWORD)
    # The back office needs a session that passed two-factor (N5; tests/test_two_factor.py).
    assert logged_in_client(staff).get("/admin/accounts/company/").status_code == 302
    device = TOTPDevice.objects.create(user=staff, name="authenticator", confirmed=True)
    client = Client()
    client.post("/accounts/login/", {"username": staff.email, "password": PASSWORD})
    client.post("/accounts/login/code/", {"code": totp(device.key)})
    assert client.get("/admin/accounts/company/").status_code == 200
    assert logged_in_client(acme.owner).get("/admin/accounts/company/").status_code == 302
