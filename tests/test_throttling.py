"""Throttled logins, password-reset requests and sign-ups (N5): per account and per client
address, a clear message saying when to try again, and open again once the window passed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from django.core import mail
from django.test import Client

from plug2support.accounts.models import Company, User

from .conftest import PASSWORD, Tenant

START = datetime(2026, 12, 2, 10, 0, 5, tzinfo=UTC)  # five seconds into an hour's window


def log_in(email: str, password: str, ip: str) -> tuple[Client, Any]:
    client = Client(REMOTE_ADDR=ip)
    return client, client.post("/accounts/login/", {"username": email, "password": password})


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def assert_refused_until(response: Any, when: str, minutes: int) -> None:
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= minutes * 60
    assert f"Try again after {when} UTC (in {minutes} minutes)" in response.content.decode()


def test_the_right_password_after_25_wrong_ones_in_nine_seconds_is_refused_until_the_lock_ends(
        acme: Tenant) -> None:
    email = acme.operators[0].email
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(25):
            client, response = log_in(email, "wrong-password", "203.0.113.7")
            clock.shift(timedelta(seconds=9 / 25))
        client, response = log_in(email, PASSWORD, "203.0.113.7")
        assert not logged_in(client)
        # The tenth failure (at 10:00:08.24) locked the account; the fifteen after it were
        # refused without being counted, so the lock ends 15 minutes after that one, at
        # 10:15:08.24 (shown rounded up), less than 15 minutes from now (10:00:14).
        assert_refused_until(response, "10:16", 15)
        assert "Too many failed logins" in response.content.decode()
        # The page is the login form again, the address kept, the password not.
        assert email in response.content.decode() and PASSWORD not in response.content.decode()

        clock.move_to(START + timedelta(minutes=15, seconds=3.2))
        client, response = log_in(email, PASSWORD, "203.0.113.7")
        assert response.status_code == 429  # 10:15:08.2: not yet
        clock.move_to(START + timedelta(minutes=15, seconds=3.3))
        client, response = log_in(email, PASSWORD, "203.0.113.7")
        assert response.status_code == 302 and logged_in(client)


def test_a_locked_account_is_refused_from_every_address_and_others_still_log_in(
        acme: Tenant, globex: Tenant) -> None:
    email = acme.operators[0].email
    with time_machine.travel(START, tick=False):
        for _ in range(10):
            log_in(email, "wrong-password", "203.0.113.7")
        # The account, from another address: refused.
        client, response = log_in(email, PASSWORD, "198.51.100.20")
        assert response.status_code == 429 and not logged_in(client)
        # Another account of the same company, and a second company's user, from elsewhere.
        for other in (acme.owner.email, globex.owner.email):
            client, response = log_in(other, PASSWORD, "198.51.100.20")
            assert response.status_code == 302 and logged_in(client)


def test_an_address_that_failed_on_many_accounts_is_refused_for_every_account(
        acme: Tenant, globex: Tenant) -> None:
    with time_machine.travel(START, tick=False):
        # Password spraying: one try on each of ten accounts, none locked on its own.
        for i in range(10):
            log_in(f"someone{i}@acme.test", "Summer2026!", "203.0.113.9")
        for email in (acme.owner.email, globex.owner.email):
            client, response = log_in(email, PASSWORD, "203.0.113.9")
            assert not logged_in(client)
            assert_refused_until(response, "10:16", 15)  # 10:15:05
        # The same accounts from another address are not locked.
        client, response = log_in(globex.owner.email, PASSWORD, "198.51.100.20")
        assert response.status_code == 302 and logged_in(client)


def test_a_few_wrong_passwords_are_answered_as_usual(acme: Tenant) -> None:
    for _ in range(9):
        client, response = log_in(acme.owner.email, "wrong-password", "203.0.113.7")
        assert response.status_code == 200 and "correct" in response.content.decode()
    client, response = log_in(acme.owner.email, PASSWORD, "203.0.113.7")
    assert response.status_code == 302 and logged_in(client)


def test_password_reset_requests_are_throttled_per_address_asked_for(acme: Tenant) -> None:
    with time_machine.travel(START, tick=False) as clock:
        for i in range(3):
            client = Client(REMOTE_ADDR=f"203.0.113.{i + 1}")
            response = client.post("/accounts/password-reset/", {"email": acme.owner.email})
            assert response.status_code == 302
        response = Client(REMOTE_ADDR="203.0.113.50").post(
            "/accounts/password-reset/", {"email": acme.owner.email})
        assert_refused_until(response, "11:00", 60)
        assert "Too many password reset requests" in response.content.decode()
        assert len(mail.outbox) == 3
        # An address without an account is counted the same way (the answer tells nothing).
        for _ in range(3):
            Client().post("/accounts/password-reset/", {"email": "nobody@acme.test"})
        response = Client().post("/accounts/password-reset/", {"email": "nobody@acme.test"})
        assert response.status_code == 429

        clock.move_to(START.replace(hour=11, second=1))
        response = Client().post("/accounts/password-reset/", {"email": acme.owner.email})
        assert response.status_code == 302 and len(mail.outbox) == 4


def test_password_reset_requests_are_throttled_per_client(acme: Tenant, globex: Tenant) -> None:
    with time_machine.travel(START, tick=False):
        client = Client(REMOTE_ADDR="203.0.113.7")
        for i in range(10):
            response = client.post("/accounts/password-reset/", {"email": f"x{i}@acme.test"})
            assert response.status_code == 302
        response = client.post("/accounts/password-reset/", {"email": acme.owner.email})
        assert_refused_until(response, "11:00", 60)
        assert mail.outbox == []
        response = Client(REMOTE_ADDR="198.51.100.20").post(
            "/accounts/password-reset/", {"email": globex.owner.email})
        assert response.status_code == 302 and len(mail.outbox) == 1


def test_sign_ups_are_throttled_per_client_and_a_refused_one_creates_nothing(db: Any) -> None:
    def sign_up(n: int, ip: str) -> Any:
        return Client(REMOTE_ADDR=ip).post("/signup/", {
            "name": f"Person {n}", "email": f"person{n}@example.com",
            "company_name": f"Company {n}", "password": PASSWORD})

    with time_machine.travel(START, tick=False) as clock:
        for n in range(10):
            assert sign_up(n, "203.0.113.7").status_code == 302
        response = sign_up(10, "203.0.113.7")
        assert_refused_until(response, "11:00", 60)
        assert "Too many sign-ups" in response.content.decode()
        assert not User.objects.filter(email="person10@example.com").exists()
        assert Company.objects.count() == 10
        # The form keeps what was typed, never the password.
        assert "person10@example.com" in response.content.decode()
        assert not re.search(re.escape(PASSWORD), response.content.decode())

        assert sign_up(11, "198.51.100.20").status_code == 302  # another network
        clock.move_to(START.replace(hour=11, second=1))
        assert sign_up(12, "203.0.113.7").status_code == 302
