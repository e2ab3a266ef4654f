"""Two-factor authentication (N5): TOTP computed here (RFC 6238 with hmac), recovery codes used
once, wrong codes refused and throttled, an owner requiring it, staff in the back office."""

from __future__ import annotations

import hashlib
import hmac
import struct
import time
from typing import Any

import time_machine
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plug2support.accounts import twofactor as tf
from plug2support.accounts.models import Membership, Role, User

from .conftest import PASSWORD, Tenant


def totp(key_hex: str, at: float | None = None) -> str:
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(bytes.fromhex(key_hex), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = (struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{value:06d}"


def set_up(user: User) -> tuple[TOTPDevice, list[str]]:
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    return device, tf.new_recovery_codes(user)


def password_step(client: Client, user: User) -> Any:
    return client.post("/accounts/login/", {"username": user.email, "password": PASSWORD})


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_setup_page_then_login_with_a_totp_code(acme: Tenant) -> None:
    user = acme.operators[0]
    client = Client()
    client.force_login(user)
    page = client.get("/account/two-factor/")
    assert page.status_code == 200 and b"<svg" in page.content
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert client.post("/account/two-factor/", {"code": "000000" if totp(device.key) != "000000"
                                                else "111111"}).status_code == 400
    with time_machine.travel(time.time() + 5, tick=False):
        done = client.post("/account/two-factor/", {"code": totp(device.key)})
        assert done.status_code == 302
        codes = client.get("/account/two-factor/")
        assert codes.status_code == 200 and b"recovery" in codes.content.lower()
        txt = client.get("/account/two-factor/recovery-codes.txt")
        assert len(txt.content.decode().split("\n\n")[1].split()) == tf.RECOVERY_CODES
    device.refresh_from_db()
    assert device.confirmed

    fresh = Client()
    answer = password_step(fresh, user)
    assert answer.status_code == 302 and answer["Location"] == "/accounts/login/code/"
    assert not logged_in(fresh)  # half-logged-in: nothing but the pending entry
    assert fresh.get("/inbox/").status_code == 302
    with time_machine.travel(time.time() + 65, tick=False):
        final = fresh.post("/accounts/login/code/", {"code": totp(device.key)})
        assert final.status_code == 302
        assert logged_in(fresh) and fresh.session.get("otp_device_id")


def test_a_recovery_code_works_once(acme: Tenant) -> None:
    user = acme.operators[0]
    _, codes = set_up(user)
    first = Client()
    password_step(first, user)
    assert first.post("/accounts/login/code/", {"code": codes[0].upper()}).status_code == 302
    assert logged_in(first)
    again = Client()
    password_step(again, user)
    refused = again.post("/accounts/login/code/", {"code": codes[0]})
    assert refused.status_code == 400 and not logged_in(again)


def test_a_wrong_code_is_refused_and_throttled(acme: Tenant) -> None:
    user = acme.operators[0]
    device, _ = set_up(user)
    client = Client()
    password_step(client, user)
    now = time.time()
    with time_machine.travel(now, tick=False):
        wrong = "123456" if totp(device.key) != "123456" else "654321"
        assert client.post("/accounts/login/code/", {"code": wrong}).status_code == 400
        throttled = client.post("/accounts/login/code/", {"code": totp(device.key)})
        assert throttled.status_code == 429
        assert "Wait 1 second and try again" in throttled.content.decode()
        assert not logged_in(client)
    with time_machine.travel(now + 31, tick=False):
        assert client.post("/accounts/login/code/", {"code": totp(device.key)}).status_code == 302


def test_the_code_step_expires(acme: Tenant) -> None:
    user = acme.operators[0]
    device, _ = set_up(user)
    client = Client()
    password_step(client, user)
    with time_machine.travel(time.time() + 400, tick=False):
        assert client.post("/accounts/login/code/", {"code": totp(device.key)})["Location"] \
            == "/accounts/login/"
        assert not logged_in(client)


def test_owner_requires_it_and_only_that_company_is_affected(acme: Tenant,
                                                              globex: Tenant) -> None:
    owner = Client()
    owner.force_login(acme.owner)
    # An operator cannot switch it.
    operator = Client()
    operator.force_login(acme.operators[1])
    assert operator.post("/team/", {"require_two_factor": "on"}).status_code == 403
    owner.post("/team/", {"require_two_factor": "on"})
    acme.company.refresh_from_db()
    assert acme.company.require_two_factor
    member = Client()
    password_step(member, acme.operators[0])
    assert member.get("/inbox/")["Location"] == "/account/two-factor/"
    # A member of Globex only is not asked.
    other = Client()
    password_step(other, globex.operators[0])
    assert other.get("/inbox/").status_code == 200
    # A member of both: required, since one of their companies requires it.
    both = globex.operators[1]
    Membership.objects.create(user=both, company=acme.company, role=Role.OPERATOR)
    both_client = Client()
    password_step(both_client, both)
    assert both_client.get("/inbox/")["Location"] == "/account/two-factor/"
    assert tf.is_required(both) and not tf.is_required(globex.operators[0])


def test_staff_need_a_verified_session_for_the_admin(acme: Tenant) -> None:
    staff = User.objects.create_user(email="staff@p2s.test", name="Staff", password=PASSWORD,
                                     is_staff=True, is_superuser=True)
    client = Client()
    password_step(client, staff)
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/login/")["Location"] == "/account/two-factor/"
    device, _ = set_up(staff)
    verified = Client()
    password_step(verified, staff)
    verified.post("/accounts/login/code/", {"code": totp(device.key)})
    assert verified.get("/admin/").status_code == 200


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(code=st.text(max_size=60))
def test_any_code_input_is_answered_without_a_500(acme: Tenant, code: str) -> None:
    user = acme.operators[0]
    if not TOTPDevice.objects.filter(user=user).exists():
        set_up(user)
    TOTPDevice.objects.filter(user=user).update(throttling_failure_count=0)
    client = Client()
    password_step(client, user)
    response = client.post("/accounts/login/code/", {"code": code.replace("\x00", "")})
    assert response.status_code in (302, 400, 429)


def test_turning_off_needs_the_password_and_a_code_and_not_a_requiring_company(
        acme: Tenant) -> None:
    user = acme.operators[0]
    device, _ = set_up(user)
    client = Client()
    password_step(client, user)
    now = time.time()
    with time_machine.travel(now, tick=False):
        client.post("/accounts/login/code/", {"code": totp(device.key)})
    with time_machine.travel(now + 31, tick=False):
        client.post("/account/two-factor/off", {"password": "wrong", "code": totp(device.key)})
    assert tf.has_two_factor(user)
    acme.company.require_two_factor = True
    acme.company.save()
    with time_machine.travel(now + 62, tick=False):
        client.post("/account/two-factor/off", {"password": PASSWORD, "code": totp(device.key)})
    assert tf.has_two_factor(user)
    acme.company.require_two_factor = False
    acme.company.save()
    with time_machine.travel(now + 93, tick=False):
        client.post("/account/two-factor/off", {"password": PASSWORD, "code": totp(device.key)})
    assert not tf.has_two_factor(user)


def test_a_right_code_right_after_a_wrong_one_is_told_to_wait_not_wrong(acme: Tenant) -> None:
    """Set-up: django-otp throttles the new device for a second after a wrong code; a right
    code typed in that second is answered "wait 1 second", and is accepted after it."""
    user = acme.operators[0]
    client = Client()
    client.force_login(user)
    now = time.time()
    with time_machine.travel(now, tick=False):
        client.get("/account/two-factor/")
        device = TOTPDevice.objects.get(user=user, confirmed=False)
        wrong = "000000" if totp(device.key) != "000000" else "111111"
        assert client.post("/account/two-factor/", {"code": wrong}).status_code == 400
        soon = client.post("/account/two-factor/", {"code": totp(device.key)})
        assert soon.status_code == 429 and b"Wait 1 second and try again" in soon.content
        assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    with time_machine.travel(now + 2, tick=False):
        assert client.post("/account/two-factor/", {"code": totp(device.key, now + 2)}
                           ).status_code == 302
    assert TOTPDevice.objects.get(pk=device.pk).confirmed


def test_a_member_made_to_set_it_up_goes_on_to_the_inbox(acme: Tenant) -> None:
    acme.company.require_two_factor = True
    acme.company.save()
    user = acme.operators[0]
    client = Client()
    password_step(client, user)
    assert client.get("/inbox/")["Location"] == "/account/two-factor/"
    client.get("/account/two-factor/")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert client.post("/account/two-factor/", {"code": totp(device.key)}).status_code == 302
    assert b"recovery" in client.get("/account/two-factor/").content.lower()
    assert client.post("/account/two-factor/done")["Location"] == "/inbox/"
    assert client.get("/inbox/").status_code == 200


def test_the_team_page_says_who_has_two_factor(acme: Tenant, globex: Tenant) -> None:
    set_up(acme.operators[0])
    set_up(globex.operators[0])
    owner = Client()
    owner.force_login(acme.owner)
    page = owner.get("/team/").content.decode()
    rows = {line.split("</span>")[0].rsplit(">", 1)[-1]: line for line in page.split("<tr>")
            if "capped" in line}
    assert ">On<" in rows["Acme Op0"] and ">Off<" in rows["Acme Op1"]
    assert globex.operators[0].name not in page
