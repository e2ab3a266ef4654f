"""The E-mail settings page (F1, F4): support addresses (the default made on the first visit),
a test mail that leaves as real mail (to the business's own address through the real SMTP
server the test runs, or delivered here to an inbound address), its status as the page polls
it, and connected mailboxes whose password is stored only encrypted and never shown. Another
company's rows are 404; operators see, owners and admins change. Odd input never 500s."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from plug2support.accounts.models import Membership, Role, User
from plug2support.mail import settings_actions, testmail, views
from plug2support.mail.models import InboundMail, MailboxConnection, SupportAddress, Via
from plug2support.mail.support import default_address
from plug2support.widgets.models import Widget

from .conftest import PASSWORD, Inbox, Tenant, body_of, logged_in_client, make_tenant

PAGE = "/settings/email/"


@pytest.fixture(autouse=True)
def _secretbox(monkeypatch: Any) -> None:
    """lib/secretbox.py comes with the IMAP fetcher (another branch): a stand-in that is
    plainly not the password, so a test sees that what is stored is what encrypt made."""
    monkeypatch.setattr(settings_actions, "_encrypt", lambda text: f"sealed<{text[::-1]}>")
    monkeypatch.setattr(views, "decrypt_password",
                        lambda mailbox: mailbox.password_encrypted[7:-1][::-1])


class Checks:
    """Stands in for mail/imap.py's check_connection (it comes with the fetcher, another
    branch): the page's calls recorded, each answered with `answer` (None: it worked)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.answer: str | None = None

    def __call__(self, *args: Any) -> str | None:
        self.calls.append(args)
        return self.answer


@pytest.fixture
def checks(monkeypatch: Any) -> Checks:
    check = Checks()
    monkeypatch.setattr(views, "_check_connection", check)
    return check


def admin_of(tenant: Tenant) -> User:
    user = User.objects.create_user(email=f"admin@{tenant.company.name.lower()}.test",
                                    password=PASSWORD, name="An Admin")
    Membership.objects.create(user=user, company=tenant.company, role=Role.ADMIN)
    return user


def mailbox_for(support: SupportAddress, **fields: Any) -> MailboxConnection:
    return MailboxConnection.objects.create(
        company_id=support.company_id, address=support, host="imap.example.com",
        username="support@maple.example", password_encrypted="sealed<terces>", **fields)


# --- the page, and who may do what ------------------------------------------------------

def test_the_first_visit_makes_the_default_address_and_shows_only_the_companys(
        acme: Tenant, globex: Tenant) -> None:
    theirs = default_address(globex.company)
    page = logged_in_client(acme.owner).get(PAGE)
    assert page.status_code == 200
    ours = SupportAddress.objects.get(company=acme.company)
    assert ours.is_default and ours.widget == acme.widget
    assert ours.address.endswith(f"@{settings.INBOUND_EMAIL_DOMAIN}")
    assert ours.local_part.startswith("acme-")
    html = page.content.decode()
    assert ours.address in html and theirs.address not in html
    assert 'data-copy="#address-' in html
    # Forwarding instructions name the default address.
    for text in ("Forwarding and POP/IMAP", "Add a forwarding address", "Exchange admin center",
                 "Any other host", "SPF", "DKIM", "docs/email.md"):
        assert text in html
    # A second visit makes nothing more.
    logged_in_client(acme.owner).get(PAGE)
    assert SupportAddress.objects.filter(company=acme.company).count() == 1


def test_a_company_without_a_widget_is_told_to_make_one(db: Any) -> None:
    tenant = make_tenant("Bare", operators=0)
    Widget.objects.filter(company=tenant.company).delete()
    page = logged_in_client(tenant.owner).get(PAGE)
    assert page.status_code == 200 and b"create a widget" in page.content
    assert not SupportAddress.objects.exists()


def _urls(support: SupportAddress, mailbox: MailboxConnection) -> list[tuple[str, str]]:
    a, m = support.pk, mailbox.pk
    return [("get", f"{PAGE}{a}/"), ("post", f"{PAGE}{a}/"), ("post", f"{PAGE}{a}/delete"),
            ("post", f"{PAGE}{a}/default"), ("post", f"{PAGE}{a}/test"),
            ("get", f"{PAGE}{a}/test/status"), ("get", f"{PAGE}{a}/mailboxes/new/"),
            ("post", f"{PAGE}{a}/mailboxes/new/"), ("get", f"{PAGE}mailboxes/{m}/"),
            ("post", f"{PAGE}mailboxes/{m}/"), ("post", f"{PAGE}mailboxes/{m}/enabled"),
            ("post", f"{PAGE}mailboxes/{m}/delete")]


def _state() -> list[tuple[Any, ...]]:
    return [*SupportAddress.objects.order_by("pk").values_list(
        "pk", "company_id", "widget_id", "own_address", "display_name", "is_default",
        "test_token"), *MailboxConnection.objects.order_by("pk").values_list(
        "pk", "host", "username", "password_encrypted", "enabled")]


def test_another_companys_addresses_and_mailboxes_are_not_found(acme: Tenant,
                                                                globex: Tenant) -> None:
    theirs = SupportAddress.objects.create(company=acme.company, widget=acme.widget,
                                           local_part="acme-second")
    default_address(acme.company)
    mailbox = mailbox_for(theirs)
    before = _state()
    intruder = logged_in_client(globex.owner)
    form = {"widget": globex.widget.pk, "own_address": "x@globex.test", "host": "evil.test",
            "port": "993", "security": "ssl", "username": "x", "password": "y",
            "folder": "INBOX", "enabled": "0", "save": "1"}
    for method, url in _urls(theirs, mailbox):
        answer = getattr(intruder, method)(url, form) if method == "post" else intruder.get(url)
        assert answer.status_code == 404, (method, url)
    assert _state() == before
    assert theirs.address not in intruder.get(PAGE).content.decode()


def test_an_operator_sees_the_page_but_changes_nothing(acme: Tenant, smtp: Inbox) -> None:
    support = default_address(acme.company)
    mailbox = mailbox_for(support, last_error="LOGIN failed.")
    operator = logged_in_client(acme.operators[0])
    page = operator.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert support.address in html and "LOGIN failed." in html
    assert "Send a test mail" not in html and "Add another address" not in html
    assert f'href="{PAGE}{support.pk}/"' not in html  # no edit links
    before = _state()
    assert operator.post(PAGE, {"widget": acme.widget.pk}).status_code == 403
    for method, url in _urls(support, mailbox):
        answer = getattr(operator, method)(url, {"enabled": "0"})
        expected = 200 if url.endswith("/test/status") else 403
        assert answer.status_code == expected, (method, url)
    assert _state() == before and smtp.messages == []
    assert "E-mail" in html and f'href="{PAGE}" aria-current="page"' in html


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_an_owner_or_admin_adds_edits_makes_default_and_deletes(acme: Tenant,
                                                               role: str) -> None:
    user = acme.owner if role == "owner" else admin_of(acme)
    client = logged_in_client(user)
    client.get(PAGE)
    first = SupportAddress.objects.get(company=acme.company)
    shop = Widget.objects.create(company=acme.company, name="Acme shop")

    added = client.post(PAGE, {"widget": shop.pk, "own_address": "Shop@Acme.example",
                               "display_name": "  Acme   shop  "})
    assert added.status_code == 302
    second = SupportAddress.objects.exclude(pk=first.pk).get(company=acme.company)
    assert added["Location"] == f"{PAGE}#address-{second.pk}"
    assert (second.widget, second.own_address, second.display_name, second.is_default) == (
        shop, "shop@acme.example", "Acme shop", False)
    assert re.fullmatch(r"acme-[0-9a-f]{4}", second.local_part)

    edited = client.post(f"{PAGE}{second.pk}/", {"widget": acme.widget.pk,
                                                 "own_address": "", "display_name": ""})
    assert edited.status_code == 302
    second.refresh_from_db()
    assert (second.widget, second.own_address, second.display_name) == (acme.widget, "", "")

    # The default cannot be deleted; once another is the default, it can.
    client.post(f"{PAGE}{first.pk}/delete")
    assert SupportAddress.objects.filter(pk=first.pk).exists()
    assert client.post(f"{PAGE}{second.pk}/default").status_code == 302
    assert list(SupportAddress.objects.filter(company=acme.company, is_default=True)) == [second]
    assert client.post(f"{PAGE}{first.pk}/delete").status_code == 302
    assert list(SupportAddress.objects.filter(company=acme.company)) == [second]


def test_the_widget_must_be_the_companys_and_the_own_address_not_ours(
        acme: Tenant, globex: Tenant) -> None:
    client = logged_in_client(acme.owner)
    client.get(PAGE)
    refused = client.post(PAGE, {"widget": globex.widget.pk})
    assert refused.status_code == 200 and b"Select a valid choice" in refused.content
    ours = client.post(PAGE, {"widget": acme.widget.pk,
                              "own_address": f"x@{settings.INBOUND_EMAIL_DOMAIN}"})
    assert ours.status_code == 200 and b"an address of Plug2Support" in ours.content
    bad = client.post(PAGE, {"widget": acme.widget.pk, "own_address": "not an address"})
    assert bad.status_code == 200 and b"valid email" in bad.content
    assert SupportAddress.objects.filter(company=acme.company).count() == 1


# --- the test mail -------------------------------------------------------------------------

def _send_test(client: Client, support: SupportAddress, capture: Any) -> SupportAddress:
    with capture(execute=True):
        answer = client.post(f"{PAGE}{support.pk}/test")
    assert answer.status_code == 302 and answer["Location"] == f"{PAGE}#address-{support.pk}"
    support.refresh_from_db()
    return support


def test_a_test_mail_goes_to_the_own_address_through_the_outgoing_server(
        acme: Tenant, smtp: Inbox, django_capture_on_commit_callbacks: Any) -> None:
    support = default_address(acme.company)
    SupportAddress.objects.filter(pk=support.pk).update(own_address="support@acme.example",
                                                        test_received_at=timezone.now())
    before = timezone.now()
    support = _send_test(logged_in_client(acme.owner), support,
                         django_capture_on_commit_callbacks)
    assert re.fullmatch(r"[0-9a-f]{16}", support.test_token)
    assert support.test_sent_at is not None and support.test_sent_at >= before
    assert support.test_received_at is None
    [mail] = smtp.messages
    assert mail["To"] == "support@acme.example"
    assert f"[Plug2Support test {support.test_token}]" in mail["Subject"]
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Message-ID"].endswith(f"@{settings.INBOUND_EMAIL_DOMAIN}>")
    assert support.address in body_of(mail)
    assert not InboundMail.objects.exists()

    # Each test has a fresh token.
    token = support.test_token
    support = _send_test(logged_in_client(acme.owner), support,
                         django_capture_on_commit_callbacks)
    assert support.test_token != token and len(smtp.messages) == 2


def test_without_an_own_address_the_test_is_delivered_here_to_the_support_address(
        acme: Tenant, smtp: Inbox, django_capture_on_commit_callbacks: Any) -> None:
    support = _send_test(logged_in_client(acme.owner), default_address(acme.company),
                         django_capture_on_commit_callbacks)
    assert smtp.messages == []  # it never left
    [stored] = InboundMail.objects.all()
    assert (stored.company_id, stored.address_id, stored.via, stored.recipient) == (
        acme.company.pk, support.pk, Via.LOCAL, support.address)
    raw = bytes(stored.raw)
    assert f"[Plug2Support test {support.test_token}]".encode() in raw
    assert b"Auto-Submitted: auto-generated" in raw


def test_a_test_replaced_by_a_newer_one_is_not_sent(acme: Tenant, smtp: Inbox) -> None:
    support = default_address(acme.company)
    SupportAddress.objects.filter(pk=support.pk).update(own_address="s@acme.example",
                                                        test_token="newer")
    testmail.send_test_mail.call(support.pk, "older")
    assert smtp.messages == []
    testmail.send_test_mail.call(support.pk, "newer")
    assert len(smtp.messages) == 1


def test_test_mails_are_limited_per_company(acme: Tenant, smtp: Inbox) -> None:
    support = default_address(acme.company)
    client = logged_in_client(acme.owner)
    for _ in range(testmail.TESTS_PER_HOUR):
        client.post(f"{PAGE}{support.pk}/test")
    token = SupportAddress.objects.get(pk=support.pk).test_token
    refused = client.post(f"{PAGE}{support.pk}/test", follow=True)
    assert b"test mails an hour" in refused.content
    assert SupportAddress.objects.get(pk=support.pk).test_token == token


def test_the_status_says_none_waiting_late_or_arrived(acme: Tenant, globex: Tenant) -> None:
    support = default_address(acme.company)
    url = f"{PAGE}{support.pk}/test/status"
    client = logged_in_client(acme.operators[0])
    answer = client.get(url)
    assert answer.json() == {"state": "none"} and answer["Cache-Control"] == "no-store"

    sent = timezone.now() - timedelta(seconds=5)
    SupportAddress.objects.filter(pk=support.pk).update(test_token="t", test_sent_at=sent)
    waiting = client.get(url).json()
    assert waiting["state"] == "waiting" and waiting["sent_at"] == sent.isoformat()
    assert 5 <= waiting["waited"] < 60
    assert b"waiting" in client.get(PAGE).content

    SupportAddress.objects.filter(pk=support.pk).update(
        test_sent_at=timezone.now() - timedelta(seconds=testmail.WAIT_SECONDS + 1))
    assert client.get(url).json()["state"] == "late"
    assert b"check the forwarding" in client.get(PAGE).content

    SupportAddress.objects.filter(pk=support.pk).update(
        test_sent_at=sent, test_received_at=sent + timedelta(seconds=3, milliseconds=400))
    arrived = client.get(url).json()
    assert (arrived["state"], arrived["seconds"]) == ("arrived", 3)
    assert b"Arrived at" in client.get(PAGE).content
    assert client.post(url).status_code == 405
    assert logged_in_client(globex.owner).get(url).status_code == 404


# --- connected mailboxes ---------------------------------------------------------------------

MAILBOX = {"host": "IMAP.Gmail.com", "port": "993", "security": "ssl",
           "username": "support@acme.example", "password": "app pass word", "folder": "",
           "save": "1"}


def test_a_mailbox_is_saved_with_its_password_encrypted_and_never_shown(acme: Tenant) -> None:
    support = default_address(acme.company)
    client = logged_in_client(acme.owner)
    form = client.get(f"{PAGE}{support.pk}/mailboxes/new/")
    assert b"imap.gmail.com" in form.content and b"outlook.office365.com" in form.content
    assert client.post(f"{PAGE}{support.pk}/mailboxes/new/", MAILBOX).status_code == 302
    mailbox = MailboxConnection.objects.get()
    assert (mailbox.company_id, mailbox.address_id, mailbox.host, mailbox.port,
            mailbox.folder, mailbox.enabled) == (acme.company.pk, support.pk,
                                                 "imap.gmail.com", 993, "INBOX", True)
    assert mailbox.password_encrypted == "sealed<drow ssap ppa>"
    for page in (client.get(f"{PAGE}mailboxes/{mailbox.pk}/"), client.get(PAGE),
                 client.get(f"{PAGE}{support.pk}/")):
        html = page.content.decode()
        assert "app pass word" not in html and "sealed<" not in html
        assert "drow ssap" not in html
    assert "leave empty to keep" in client.get(f"{PAGE}mailboxes/{mailbox.pk}/").content.decode()

    # Saved again without a password: the stored one stays. A new one replaces it.
    kept = {**MAILBOX, "password": ""}
    assert client.post(f"{PAGE}mailboxes/{mailbox.pk}/", kept).status_code == 302
    assert MailboxConnection.objects.get().password_encrypted == "sealed<drow ssap ppa>"
    client.post(f"{PAGE}mailboxes/{mailbox.pk}/", {**MAILBOX, "password": "new"})
    assert MailboxConnection.objects.get().password_encrypted == "sealed<wen>"


def test_a_new_mailbox_needs_a_password(acme: Tenant) -> None:
    support = default_address(acme.company)
    answer = logged_in_client(acme.owner).post(f"{PAGE}{support.pk}/mailboxes/new/",
                                               {**MAILBOX, "password": ""})
    assert answer.status_code == 200 and b"Enter the mailbox" in answer.content
    assert not MailboxConnection.objects.exists()


def test_another_mailbox_starts_over_and_a_saved_one_is_tried_again_at_once(
        acme: Tenant) -> None:
    support = default_address(acme.company)
    mailbox = mailbox_for(support, uidvalidity=7, last_uid=40, failures=3,
                          next_attempt_at=timezone.now() + timedelta(hours=1),
                          last_error="LOGIN failed.")
    client = logged_in_client(acme.owner)
    same = {**MAILBOX, "host": mailbox.host, "username": mailbox.username, "password": ""}
    client.post(f"{PAGE}mailboxes/{mailbox.pk}/", same)
    mailbox.refresh_from_db()
    assert (mailbox.uidvalidity, mailbox.last_uid) == (7, 40)
    assert (mailbox.failures, mailbox.next_attempt_at, mailbox.last_error) == (0, None, "")
    client.post(f"{PAGE}mailboxes/{mailbox.pk}/", {**same, "folder": "Support"})
    mailbox.refresh_from_db()
    assert (mailbox.folder, mailbox.uidvalidity, mailbox.last_uid) == ("Support", None, 0)


def test_test_connection_shows_the_servers_error_and_saves_nothing(
        acme: Tenant, checks: Checks) -> None:
    support = default_address(acme.company)
    client = logged_in_client(acme.owner)
    url = f"{PAGE}{support.pk}/mailboxes/new/"
    checks.answer = "LOGIN failed: [AUTHENTICATIONFAILED] Invalid credentials"
    answer = client.post(url, {**MAILBOX, "save": "", "check": "1"})
    assert answer.status_code == 200
    html = answer.content.decode()
    assert "The connection failed" in html and "[AUTHENTICATIONFAILED] Invalid credentials" in html
    assert "app pass word" not in html  # not even sent back into the field
    assert checks.calls == [("imap.gmail.com", 993, "ssl", "support@acme.example",
                           "app pass word", "INBOX")]
    assert not MailboxConnection.objects.exists()

    checks.answer = None
    answer = client.post(url, {**MAILBOX, "save": "", "check": "1"})
    assert b"Connected: the server accepted the login" in answer.content
    assert not MailboxConnection.objects.exists()


def test_test_connection_of_a_saved_mailbox_uses_its_saved_password(
        acme: Tenant, checks: Checks) -> None:
    mailbox = mailbox_for(default_address(acme.company))
    logged_in_client(acme.owner).post(f"{PAGE}mailboxes/{mailbox.pk}/", {
        **MAILBOX, "host": "imap.example.com", "password": "", "save": "", "check": "1"})
    assert checks.calls == [("imap.example.com", 993, "ssl", "support@acme.example",
                           "secret", "INBOX")]
    assert MailboxConnection.objects.get().host == "imap.example.com"


def test_a_mailbox_is_paused_turned_on_and_removed_its_mail_kept(acme: Tenant) -> None:
    support = default_address(acme.company)
    mailbox = mailbox_for(support, failures=2)
    mail = InboundMail.objects.create(company=acme.company, address=support, mailbox=mailbox,
                                      via=Via.IMAP, recipient=support.address, message_key="k",
                                      raw=b"x")
    client = logged_in_client(acme.owner)
    page = client.get(PAGE).content.decode()
    assert "imap.example.com" in page and "Pause" in page and "not yet" in page
    client.post(f"{PAGE}mailboxes/{mailbox.pk}/enabled", {"enabled": "0"})
    assert not MailboxConnection.objects.get().enabled
    assert "Turn on" in client.get(PAGE).content.decode()
    client.post(f"{PAGE}mailboxes/{mailbox.pk}/enabled", {"enabled": "1"})
    assert MailboxConnection.objects.get().enabled
    assert MailboxConnection.objects.get().failures == 0
    client.post(f"{PAGE}mailboxes/{mailbox.pk}/delete")
    assert not MailboxConnection.objects.exists()
    mail.refresh_from_db()
    assert mail.mailbox is None


# --- bad input -------------------------------------------------------------------------------

ODD = st.one_of(st.text(max_size=300), st.sampled_from([
    "\x00", "a\x00b", "\r\nA001 LOGOUT", "99999999999999999999999", "-1", "0", "65536",
    "1e3", " ", "imap..example.com", "[::1]", "é" * 300, "x" * 5000]))
PROPERTY = hypothesis_settings(max_examples=40, deadline=None,
                               suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                      HealthCheck.too_slow])


@PROPERTY
@given(widget=ODD, own=ODD, name=ODD)
def test_odd_address_forms_never_fail(acme: Tenant, widget: str, own: str, name: str) -> None:
    client = logged_in_client(acme.owner)
    client.raise_request_exception = False
    support = default_address(acme.company)
    for url in (PAGE, f"{PAGE}{support.pk}/"):
        answer = client.post(url, {"widget": widget, "own_address": own, "display_name": name})
        assert answer.status_code in (200, 302), (url, answer.status_code)


@PROPERTY
@given(host=ODD, port=ODD, security=ODD, username=ODD, password=ODD, folder=ODD,
       button=st.sampled_from(["save", "check"]))
def test_odd_mailbox_forms_never_fail(acme: Tenant, checks: Checks, host: str, port: str,
                                      security: str, username: str, password: str,
                                      folder: str, button: str) -> None:
    client = logged_in_client(acme.owner)
    client.raise_request_exception = False
    support = default_address(acme.company)
    answer = client.post(f"{PAGE}{support.pk}/mailboxes/new/", {
        "host": host, "port": port, "security": security, "username": username,
        "password": password, "folder": folder, button: "1"})
    assert answer.status_code in (200, 302), answer.status_code
    for mailbox in MailboxConnection.objects.all():
        assert 1 <= mailbox.port <= 65535 and "\x00" not in mailbox.host + mailbox.folder


@pytest.mark.parametrize("body", [b"widget=%ff%fe&own_address=%00", b"host=%ff&port=%00",
                                  b"\xff\xfe=\x00", b"port=1&port=2&host=a&host=b"])
def test_undecodable_posts_are_answered(acme: Tenant, body: bytes) -> None:
    client = logged_in_client(acme.owner)
    client.raise_request_exception = False
    support = default_address(acme.company)
    for url in (PAGE, f"{PAGE}{support.pk}/", f"{PAGE}{support.pk}/mailboxes/new/"):
        answer = client.post(url, body, content_type="application/x-www-form-urlencoded")
        assert answer.status_code in (200, 302, 400), (url, answer.status_code)
