"""M10: the profile page, password change ending other sessions' sockets, session sign-out,
member removal ending that company's sockets only, and avatars checked by content."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from plug2support.accounts.models import Membership, Role, User, UserSession
from plug2support.conversations.models import Conversation

from .conftest import PASSWORD, WS, open_operator, ws_connect

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8"
       b"N\x00\x00\x00\x00IEND\xaeB`\x82")


def _logged_in(user: User) -> tuple[Client, str]:
    browser = Client()
    browser.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    return browser, f"sessionid={browser.cookies['sessionid'].value}"


def _closed_code(ws: WS) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv_until(lambda f: False)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def test_password_change_closes_the_other_sessions_sockets(live: str, tenants: Any) -> None:
    acme, _ = tenants
    user = acme.operators[0]
    here, _ = _logged_in(user)
    _, elsewhere = _logged_in(user)
    other = WS(ws_connect(live, "/ws/operator", cookie=elsewhere))
    assert other.recv()["type"] == "welcome"
    answer = here.post("/account/", {"action": "password", "current": PASSWORD,
                                     "new": "a-New-pass-42x", "repeat": "a-New-pass-42x"})
    assert answer.status_code == 302
    assert _closed_code(other) == 4401
    assert here.get("/account/").status_code == 200  # this session stays logged in
    mine = f"sessionid={here.cookies['sessionid'].value}"
    console = WS(ws_connect(live, "/ws/operator", cookie=mine))
    assert console.recv()["type"] == "welcome"  # the socket still authenticates by session
    assert UserSession.objects.filter(user=user).count() == 1


def test_a_wrong_current_password_changes_nothing(live: str, tenants: Any) -> None:
    acme, _ = tenants
    here, _ = _logged_in(acme.operators[1])
    answer = here.post("/account/", {"action": "password", "current": "nope",
                                     "new": "a-New-pass-42x", "repeat": "a-New-pass-42x"})
    assert answer.status_code == 400
    assert b"current password is not right" in answer.content
    assert User.objects.get(pk=acme.operators[1].pk).check_password(PASSWORD)


def test_sign_out_everywhere_else_and_one_session(live: str, tenants: Any) -> None:
    acme, globex = tenants
    user = acme.owner
    here, _ = _logged_in(user)
    _, first = _logged_in(user)
    second_browser, _ = _logged_in(user)
    socket = WS(ws_connect(live, "/ws/operator", cookie=first))
    assert socket.recv()["type"] == "welcome"
    page = here.get("/account/")
    assert page.content.count(b"Sign out</button>") == 2 and b"This session" in page.content
    # This session first, the others after it.
    assert page.content.index(b"This session") < page.content.index(b"Sign out</button>")
    key = second_browser.cookies["sessionid"].value
    row = UserSession.objects.get(session_key=key)
    # Someone else's session is not found from here.
    stranger, _ = _logged_in(globex.owner)
    assert stranger.post(f"/account/sessions/{row.pk}/sign-out/").status_code == 404
    assert here.post(f"/account/sessions/{row.pk}/sign-out/").status_code == 302
    assert second_browser.get("/account/").status_code == 302  # to the login page
    answer = here.post("/account/sessions/sign-out-others/", follow=True)
    assert b"1 other session signed out." in answer.content
    assert _closed_code(socket) == 4401
    assert here.get("/account/").status_code == 200


def test_member_removal_closes_that_companys_sockets_only(live: str, tenants: Any) -> None:
    acme, globex = tenants
    person = acme.operators[0]
    Membership.objects.create(user=person, company=globex.company, role=Role.OPERATOR)
    in_acme = open_operator(live, person)
    browser, cookie = _logged_in(person)
    acme_conv = Conversation.objects.filter(company=acme.company).first()
    if acme_conv is not None:
        Conversation.objects.filter(pk=acme_conv.pk).update(assignee=person)
    browser.post(f"/accounts/switch/{globex.company.pk}/")
    in_globex = WS(ws_connect(live, "/ws/operator", cookie=cookie))
    assert in_globex.recv()["type"] == "welcome"
    admin, _ = _logged_in(acme.owner)
    member = Membership.objects.get(user=person, company=acme.company)
    # Another company's admin cannot reach this membership.
    outsider, _ = _logged_in(globex.owner)
    assert outsider.post(f"/team/{member.pk}/remove/").status_code == 404
    assert admin.post(f"/team/{member.pk}/remove/").status_code == 302
    assert _closed_code(in_acme) == 4403
    assert in_globex.request({"type": "ping"})["type"] == "pong"
    assert not Membership.objects.filter(user=person, company=acme.company).exists()
    assert not Conversation.objects.filter(company=acme.company, assignee=person).exists()


def test_member_removal_rules(live: str, tenants: Any) -> None:
    acme, _ = tenants
    admin_user = acme.operators[1]
    Membership.objects.filter(user=admin_user, company=acme.company).update(role=Role.ADMIN)
    admin, _ = _logged_in(admin_user)
    owner = Membership.objects.get(user=acme.owner, company=acme.company)
    me = Membership.objects.get(user=admin_user, company=acme.company)
    admin.post(f"/team/{owner.pk}/remove/")
    admin.post(f"/team/{me.pk}/remove/")
    assert Membership.objects.filter(pk__in=[owner.pk, me.pk]).count() == 2
    operator, _ = _logged_in(acme.operators[0])
    operator.post(f"/team/{me.pk}/remove/")
    assert Membership.objects.filter(pk=me.pk).exists()


def test_avatar_must_be_an_image(live: str, tenants: Any) -> None:
    acme, globex = tenants
    here, _ = _logged_in(acme.owner)
    fake = SimpleUploadedFile("me.png", b"<svg onload=alert(1)></svg>", "image/png")
    answer = here.post("/account/", {"action": "avatar", "avatar": fake})
    assert answer.status_code == 400 and b"not an image we accept" in answer.content
    good = SimpleUploadedFile("me.png", PNG, "image/png")
    assert here.post("/account/", {"action": "avatar", "avatar": good}).status_code == 302
    url = User.objects.get(pk=acme.owner.pk).avatar_url
    assert here.get(url)["Content-Type"] == "image/png"
    stranger, _ = _logged_in(globex.owner)
    assert stranger.get(url).status_code == 404


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=200), theme=st.text(max_size=12))
def test_profile_form_never_fails(live: str, tenants: Any, name: str, theme: str) -> None:
    acme, _ = tenants
    browser = Client()
    browser.force_login(acme.operators[1])
    answer = browser.post("/account/", {"action": "details", "name": name, "theme": theme})
    assert answer.status_code in (302, 400)
    user = User.objects.get(pk=acme.operators[1].pk)
    assert user.theme in ("system", "light", "dark") and user.name.strip()


def test_requiring_two_factor_closes_the_open_consoles_without_it(live: str,
                                                                   tenants: Any) -> None:
    """N5: the owner's switch takes effect at once: a member's console opened without the
    code step closes (4401) and its session is walked through set-up; another company's
    members are not touched."""
    acme, globex = tenants
    owner, _ = _logged_in(acme.owner)
    member, cookie = _logged_in(acme.operators[0])
    socket = WS(ws_connect(live, "/ws/operator", cookie=cookie))
    assert socket.recv()["type"] == "welcome"
    _, other_cookie = _logged_in(globex.operators[0])
    other = WS(ws_connect(live, "/ws/operator", cookie=other_cookie))
    assert other.recv()["type"] == "welcome"
    assert owner.post("/team/", {"require_two_factor": "on"}).status_code == 302
    assert _closed_code(socket) == 4401
    assert member.get("/inbox/")["Location"] == "/account/two-factor/"  # still logged in
    again = WS(ws_connect(live, "/ws/operator", cookie=cookie))
    assert _closed_code(again) == 4401
    other.send({"type": "ping", "ref": "p1"})
    assert other.recv_until(lambda f: f["type"] == "pong")["ref"] == "p1"  # Globex's stays


def test_a_form_too_large_for_the_server_gets_a_page_not_json(live: str, tenants: Any) -> None:
    """A 12 MB picture posted by the profile's form is refused before it is read (the
    server's 10 MB guard) with a page a person can read; an API client still gets JSON."""
    import http.client
    from urllib.parse import urlsplit

    acme, _ = tenants
    _, cookie = _logged_in(acme.operators[0])
    address = urlsplit(live)

    def post(accept: str) -> tuple[int, str, str]:
        connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
        connection.putrequest("POST", "/account/")
        for name, value in (("Content-Length", str(12 * 1024 * 1024)), ("Accept", accept),
                            ("Content-Type", "multipart/form-data; boundary=x"),
                            ("Cookie", cookie)):
            connection.putheader(name, value)
        connection.endheaders()  # no body: the refusal comes before it would be read
        response = connection.getresponse()
        answer = (response.status, response.getheader("Content-Type") or "",
                  response.read().decode())
        connection.close()
        return answer

    status, kind, body = post("text/html,application/xhtml+xml,*/*;q=0.8")
    assert status == 413 and kind.startswith("text/html")
    assert "That is too large" in body and "512 KB" in body
    status, kind, body = post("application/json")
    assert status == 413 and kind == "application/json" and '"too_large"' in body
    assert not User.objects.get(pk=acme.operators[0].pk).avatar


@pytest.mark.django_db
def test_an_avatar_or_a_logo_of_too_many_pixels_is_refused(acme: Any) -> None:
    """A small file can hold a huge bitmap (8000 × 8000 compresses to a few KB) that every
    teammate's browser would decode: at most 4096 pixels a side."""
    import io

    from PIL import Image

    from plug2support.accounts.profile import ProfileError, do_set_avatar
    from plug2support.widgets.appearance import AppearanceError, check_image

    def png(width: int, height: int) -> io.BytesIO:
        data = io.BytesIO()
        Image.new("L", (width, height)).save(data, "PNG")
        data.seek(0)
        return data

    huge = png(8000, 8000)
    assert huge.getbuffer().nbytes < 512 * 1024
    with pytest.raises(ProfileError, match="8000 × 8000 pixels: at most 4096"):
        do_set_avatar(acme.owner, huge, "me.png")
    assert not User.objects.get(pk=acme.owner.pk).avatar
    with pytest.raises(AppearanceError, match="at most 4096 pixels a side"):
        check_image(png(5000, 20), "logo.png")
    assert do_set_avatar(acme.owner, png(4096, 40), "me.png").startswith("avatars/")
