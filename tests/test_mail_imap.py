"""Connected mailboxes (F4, mail/imap.py) against a real Dovecot (tests/dovecot_process.py):
each message imported once, in order, whatever the workers, crashes and UIDVALIDITY do;
failures reported once, retried with back-off, never with the password in sight."""

from __future__ import annotations

import base64
import itertools
import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail as django_mail
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from plug2support.accounts.models import Membership, Role, User
from plug2support.lib import secretbox
from plug2support.mail import imap, intake
from plug2support.mail.models import InboundMail, MailboxConnection, SupportAddress
from plug2support.ops import periodic
from plug2support.ops.models import PeriodicRun

from .conftest import PASSWORD, Tenant, free_port, make_tenant
from .dovecot_process import DovecotProcess, running_dovecot

SEEN = b"\\Seen"
_names = itertools.count()
_accounts = itertools.count()


# Passwords as people have them (LOGIN would have to quote or could not carry them).
TRICKY = ['with "quotes" and \\ backslash', "spaces   inside", "non-ASCII: café ß 日本",
          "{5}literal-looking", "*:%)( NIL", "x" * 200]
INJECTION = "x\r\nA1 CREATE Injected\r\nA2 LOGOUT"
ACCOUNTS = {f"support{n}": f"Pw-support{n}-s3cret" for n in range(60)}
TRICKY_ACCOUNTS = {f"tricky{n}": password for n, password in enumerate(TRICKY)}
# Dovecot refuses control characters in a password; the point is that none goes out as a
# command of its own.
INJECTED = {"injected": INJECTION}


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotProcess]:
    yield from running_dovecot({**ACCOUNTS, **TRICKY_ACCOUNTS, **INJECTED})


@pytest.fixture(autouse=True)
def _dovecot_is_on_this_machine(settings: Any) -> None:
    # The tests' IMAP server listens on 127.0.0.1, which a company's mailbox may not be.
    settings.MAIL_IMAP_ALLOW_PRIVATE = True


@pytest.fixture
def acme(transactional_db: Any) -> Tenant:
    """Committed (the workers are threads with their own connections)."""
    return make_tenant("Acme")


@pytest.fixture
def account(dovecot: DovecotProcess) -> tuple[str, str]:
    """A mailbox user of this test's own, so every test starts from an empty INBOX."""
    name = f"support{next(_accounts)}"
    return name, ACCOUNTS[name]


@pytest.fixture
def trust_test_ca(dovecot: DovecotProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap, "tls_context",
                        lambda: ssl.create_default_context(cafile=str(dovecot.ca_file)))


def connect(tenant: Tenant, dovecot: DovecotProcess, account: tuple[str, str], *,
            password: str | None = None, folder: str = "INBOX", security: str = "none",
            port: int | None = None) -> MailboxConnection:
    address = SupportAddress.objects.create(company=tenant.company, widget=tenant.widget,
                                            local_part=f"acme-{next(_names)}")
    return MailboxConnection.objects.create(
        company=tenant.company, address=address, host="127.0.0.1", port=port or dovecot.port,
        security=security, username=account[0],
        password_encrypted=secretbox.encrypt(account[1] if password is None else password),
        folder=folder)


def message(n: int, *, tag: str = "m", padding: int = 0) -> bytes:
    body = f"Hello, question number {n}.\r\n" + ("x" * 76 + "\r\n") * (padding // 78)
    return (f"From: Customer {n} <customer{n}@example.com>\r\n"
            f"To: support@maple.example\r\nSubject: Question {n}\r\n"
            f"Date: Tue, 3 Mar 2026 10:00:00 +0000\r\n"
            f"Message-ID: <{tag}-{n}@example.com>\r\n\r\n{body}").encode()


def fresh(mailbox: MailboxConnection) -> MailboxConnection:
    return MailboxConnection.objects.get(pk=mailbox.pk)


def imported(mailbox: MailboxConnection) -> list[tuple[int | None, str]]:
    return sorted(InboundMail.objects.filter(mailbox=mailbox)
                  .values_list("uid", "message_id"))


def due_again(mailbox: MailboxConnection) -> None:
    """The back-off (or a dead worker's lease) is over."""
    MailboxConnection.objects.filter(pk=mailbox.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1))


def in_thread(work: Callable[[], Any]) -> Any:
    """`work` in a thread of its own, with its own database connection (as another worker)."""
    out: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out.append(work())
        except BaseException as error:  # noqa: BLE001 (re-raised below)
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return out[0]


def at_once(work: Callable[[], Any]) -> list[Any]:
    """`work` run by two workers at the same moment, each with its own database connection."""
    barrier = threading.Barrier(2)
    out: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            out.append(work())
        except BaseException as error:  # noqa: BLE001 (re-raised below)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return out


# --- fetching -------------------------------------------------------------------------------

def test_new_mail_is_imported_once_marked_seen_and_later_mail_after_it(
        acme: Tenant, dovecot: DovecotProcess, account: tuple[str, str]) -> None:
    user = account[0]
    sent = [message(n) for n in range(1, 4)]
    uids = [dovecot.deliver(user, raw) for raw in sent]
    mailbox = connect(acme, dovecot, account)

    result = imap.fetch_mailbox(mailbox.pk)
    assert (result.claimed, result.fetched, result.stored, result.duplicates, result.error) \
        == (True, 3, 3, 0, "")
    rows = InboundMail.objects.filter(mailbox=mailbox).order_by("uid")
    assert [(row.uid, bytes(row.raw), row.via) for row in rows] == [
        (uid, raw, "imap") for uid, raw in zip(uids, sent, strict=True)]
    assert {row.uidvalidity for row in rows} == {fresh(mailbox).uidvalidity}
    assert {row.address_id for row in rows} == {mailbox.address_id}
    assert all(SEEN in flags for flags in dovecot.flags(user).values())
    state = fresh(mailbox)
    assert (state.last_uid, state.failures, state.last_error, state.next_attempt_at) \
        == (uids[-1], 0, "", None)
    assert state.last_success_at is not None and state.last_checked_at is not None

    again = imap.fetch_mailbox(mailbox.pk)
    assert (again.fetched, again.stored) == (0, 0)

    later = dovecot.deliver(user, message(4))
    result = imap.fetch_mailbox(mailbox.pk)
    assert (result.fetched, result.stored) == (1, 1)
    assert imported(mailbox) == [
        (uid, f"m-{n}@example.com") for n, uid in enumerate([*uids, later], start=1)]
    assert fresh(mailbox).last_uid == later


def test_a_big_backlog_comes_in_over_several_fetches_in_order(
        acme: Tenant, dovecot: DovecotProcess, account: tuple[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap, "FETCH_LIMIT", 3)
    uids = [dovecot.deliver(account[0], message(n)) for n in range(1, 6)]
    mailbox = connect(acme, dovecot, account)
    first = imap.fetch_mailbox(mailbox.pk)
    assert (first.stored, first.left) == (3, 2)
    assert fresh(mailbox).last_uid == uids[2]
    second = imap.fetch_mailbox(mailbox.pk)
    assert (second.stored, second.left) == (2, 0)
    assert [uid for uid, _ in imported(mailbox)] == uids


def test_mail_read_in_the_mailbox_before_the_fetch_is_imported_all_the_same(
        acme: Tenant, dovecot: DovecotProcess, account: tuple[str, str]) -> None:
    uid = dovecot.deliver(account[0], message(1))
    with dovecot.client(account[0]) as client:  # someone read it in their mail client
        client.select_folder("INBOX")
        client.add_flags([uid], [SEEN])
    mailbox = connect(acme, dovecot, account)
    assert imap.fetch_mailbox(mailbox.pk).stored == 1
    assert imported(mailbox) == [(uid, "m-1@example.com")]


def test_a_new_uidvalidity_fetches_the_folder_again_without_doubling(
        acme: Tenant, dovecot: DovecotProcess, account: tuple[str, str]) -> None:
    user = account[0]
    for n in (1, 2):
        dovecot.deliver(user, message(n), folder="Support")
    mailbox = connect(acme, dovecot, account, folder="Support")
    assert imap.fetch_mailbox(mailbox.pk).stored == 2
    before = fresh(mailbox)

    # The folder is deleted and made again (a restore): new UIDVALIDITY, UIDs from 1. The
    # same two messages come back, and one new one.
    dovecot.recreate(user, "Support")
    for n in (1, 2, 3):
        dovecot.deliver(user, message(n), folder="Support")
    result = imap.fetch_mailbox(mailbox.pk)
    assert (result.fetched, result.stored, result.duplicates) == (3, 1, 2)
    after = fresh(mailbox)
    assert after.uidvalidity != before.uidvalidity
    assert after.last_uid == 3
    assert InboundMail.objects.filter(mailbox=mailbox).count() == 3
    assert InboundMail.objects.get(message_id="m-3@example.com").uidvalidity \
        == after.uidvalidity
    assert all(SEEN in flags for flags in dovecot.flags(user, "Support").values())


def test_a_message_over_the_size_limit_is_passed_over_and_said_so(
        acme: Tenant, dovecot: DovecotProcess, account: tuple[str, str],
        settings: Any) -> None:
    settings.MAIL_MAX_BYTES = 4000
    user = account[0]
    small, big, last = (dovecot.deliver(user, message(1)),
                        dovecot.deliver(user, message(2, padding=6000)),
                        dovecot.deliver(user, message(3)))
    mailbox = connect(acme, dovecot, account)
    result = imap.fetch_mailbox(mailbox.pk)
    assert (result.fetched, result.stored, result.skipped, result.error) == (2, 2, 1, "")
    assert imported(mailbox) == [(small, "m-1@example.com"), (last, "m-3@example.com")]
    state = fresh(mailbox)
    assert (state.last_uid, state.failures) == (last, 0)
    size = len(message(2, padding=6000))
    assert state.last_error.endswith(
        f": message UID {big} in “INBOX” was not fetched: {-(-size // 1024)} KB, over the "
        "4 KB limit.")
    flags = dovecot.flags(user)
    assert SEEN not in flags[big] and SEEN in flags[small] and SEEN in flags[last]
    # The note stays after fetches with nothing to say (it is the last thing that went wrong).
    imap.fetch_mailbox(mailbox.pk)
    assert fresh(mailbox).last_error == state.last_error


# --- exactly once: crashes, many workers, a lost lease ----------------------------------------

def test_a_crash_before_a_batch_commits_leaves_nothing_of_it_and_the_next_fetch_redoes_it(
        acme: Tenant, dovecot: DovecotProcess, account: tuple[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap, "BATCH_MESSAGES", 2)
    user = account[0]
    uids = [dovecot.deliver(user, message(n)) for n in range(1, 6)]
    mailbox = connect(acme, dovecot, account)
    real_accept = intake.accept_from_mailbox

    def dies_on_the_fourth(raw: bytes, box: MailboxConnection, **kw: Any) -> Any:
        if kw["uid"] == uids[3]:
            raise RuntimeError("the worker died")
        return real_accept(raw, box, **kw)

    monkeypatch.setattr(intake, "accept_from_mailbox", dies_on_the_fourth)
    with pytest.raises(RuntimeError):
        imap.fetch_mailbox(mailbox.pk)
    # Batch 1 (UIDs 1–2) committed and seen; batch 2 (3–4) rolled back, 3 stored in it too.
    assert [uid for uid, _ in imported(mailbox)] == uids[:2]
    assert fresh(mailbox).last_uid == uids[1]
    flags = dovecot.flags(user)
    assert [SEEN in flags[uid] for uid in uids] == [True, True, False, False, False]
    # Not a mailbox failure: no error recorded, but the lease holds it for LEASE.
    assert (fresh(mailbox).failures, fresh(mailbox).last_error) == (0, "")
    assert imap.fetch_mailbox(mailbox.pk).claimed is False

    monkeypatch.setattr(intake, "accept_from_mailbox", real_accept)
    due_again(mailbox)
    result = imap.fetch_mailbox(mailbox.pk)
    assert (result.fetched, result.stored, result.duplicates) == (3, 3, 0)
    assert [uid for uid, _ in imported(mailbox)] == uids


def test_two_workers_fetching_one_mailbox_at_once_import_each_message_once(
        acme: Tenant, dovecot: DovecotProcess, account: tuple[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap, "BATCH_MESSAGES", 4)
    uids = [dovecot.deliver(account[0], message(n)) for n in range(1, 21)]
    mailbox = connect(acme, dovecot, account)
    results: list[imap.FetchResult] = at_once(lambda: imap.fetch_mailbox(mailbox.pk))
    # Either the second found the mailbox claimed, or it came after the first had finished
    # and found nothing new: never did both download a message.
    assert sum(r.fetched for r in results) == 20
    assert sum(r.stored for r in results) == 20
    assert sum(r.duplicates for r in results) == 0
    assert [uid for uid, _ in imported(mailbox)] == uids


def test_two_workers_polling_at_once_share_the_mailboxes_and_fetch_each_once(
        acme: Tenant, dovecot: DovecotProcess) -> None:
    boxes = []
    for _ in range(3):
        account = (name := f"support{next(_accounts)}", ACCOUNTS[name])
        for n in range(1, 5):
            dovecot.deliver(account[0], message(n, tag=name))
        boxes.append(connect(acme, dovecot, account))
    threads_out = at_once(lambda: imap.poll_mailboxes(timezone.now()))
    assert len(threads_out) == 2
    assert sum(out["fetched"] for out in threads_out) == 12
    assert sum(out["stored"] for out in threads_out) == 12
    for box in boxes:
        assert len(imported(box)) == 4 and fresh(box).last_uid == 4


def test_a_worker_whose_lease_ran_out_is_rolled_back_and_the_new_holder_imports_once(
        acme: Tenant, dovecot: DovecotProcess, account: tuple[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap, "BATCH_MESSAGES", 3)
    uids = [dovecot.deliver(account[0], message(n)) for n in range(1, 8)]
    mailbox = connect(acme, dovecot, account)
    real_renew = imap._renew
    stalled = threading.Event()
    taken_over: list[imap.FetchResult] = []

    def renew_then_stall(box: MailboxConnection, token: datetime, **fields: Any) -> None:
        real_renew(box, token, **fields)
        # The first worker, after renewing its lease before its second batch, stalls
        # longer than the lease: meanwhile another worker claims the mailbox and fetches.
        if (not fields and not stalled.is_set()
                and fresh(box).last_uid == uids[2]):
            stalled.set()
            due_again(box)
            taken_over.append(in_thread(lambda: imap.fetch_mailbox(box.pk)))

    monkeypatch.setattr(imap, "_renew", renew_then_stall)
    first = imap.fetch_mailbox(mailbox.pk)
    assert stalled.is_set()
    # The first worker's second batch found its lease gone: rolled back, it stopped.
    assert (first.claimed, first.stored, first.error) == (True, 3, "")
    assert (taken_over[0].stored, taken_over[0].duplicates) == (4, 0)
    assert [uid for uid, _ in imported(mailbox)] == uids
    assert fresh(mailbox).last_uid == uids[-1]


# --- failures ------------------------------------------------------------------------------

def test_a_wrong_password_is_reported_once_to_the_admins_and_retried_with_back_off(
        acme: Tenant, dovecot: DovecotProcess, account: tuple[str, str],
        mailoutbox: list[django_mail.EmailMultiAlternatives]) -> None:
    admin = User.objects.create_user(email="admin@acme.test", name="Acme Admin",
                                     password=PASSWORD)
    Membership.objects.create(user=admin, company=acme.company, role=Role.ADMIN)
    dovecot.deliver(account[0], message(1))
    mailbox = connect(acme, dovecot, account, password="Wrong-password-42")

    before = timezone.now()
    result = imap.fetch_mailbox(mailbox.pk)
    after = timezone.now()
    assert result.error.startswith(f"The server refused the login of {account[0]}: ")
    assert "AUTHENTICATIONFAILED" in result.error
    state = fresh(mailbox)
    assert (state.failures, state.last_error, state.last_success_at) == (1, result.error, None)
    assert state.next_attempt_at is not None
    assert before + timedelta(minutes=2) <= state.next_attempt_at <= after + \
        timedelta(minutes=2)
    assert sorted(m.to[0] for m in mailoutbox) == ["admin@acme.test", "owner@acme.test"]
    sent = mailoutbox[0]
    assert sent.subject == f"Mail from {mailbox} is not coming in — Acme"
    assert result.error in str(sent.body)
    assert "Wrong-password-42" not in str(sent.body) + str(sent.alternatives)
    assert not InboundMail.objects.exists()

    # No busy loop: until the back-off ends, nothing is tried.
    assert imap.fetch_mailbox(mailbox.pk).claimed is False
    assert imap.poll_mailboxes(timezone.now())["due"] == 0

    due_again(mailbox)
    before = timezone.now()
    assert imap.fetch_mailbox(mailbox.pk).error == result.error
    state = fresh(mailbox)
    assert state.failures == 2
    assert state.next_attempt_at is not None
    assert state.next_attempt_at >= before + timedelta(minutes=4)
    assert len(mailoutbox) == 2  # the second failure tells nobody

    # The password is corrected: the mail comes in and the error goes.
    MailboxConnection.objects.filter(pk=mailbox.pk).update(
        password_encrypted=secretbox.encrypt(account[1]))
    due_again(mailbox)
    assert imap.fetch_mailbox(mailbox.pk).stored == 1
    state = fresh(mailbox)
    assert (state.failures, state.last_error, state.next_attempt_at) == (0, "", None)
    assert state.last_success_at is not None

    # Broken again after that success: the admins hear of it again, once.
    MailboxConnection.objects.filter(pk=mailbox.pk).update(
        password_encrypted=secretbox.encrypt("Wrong-again-43"))
    imap.fetch_mailbox(mailbox.pk)
    assert len(mailoutbox) == 4


def test_the_back_off_doubles_up_to_six_hours() -> None:
    assert [imap.backoff(n) for n in (1, 2, 3, 8)] == [
        timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=8),
        timedelta(minutes=256)]
    assert imap.backoff(9) == imap.backoff(10_000) == timedelta(hours=6)


def test_poll_fetches_the_due_mailboxes_and_leaves_those_in_back_off(
        acme: Tenant, dovecot: DovecotProcess, account: tuple[str, str]) -> None:
    dovecot.deliver(account[0], message(1))
    due = connect(acme, dovecot, account)
    resting = connect(acme, dovecot, account)
    later = timezone.now() + timedelta(minutes=30)
    MailboxConnection.objects.filter(pk=resting.pk).update(next_attempt_at=later, failures=3)
    disabled = connect(acme, dovecot, account)
    MailboxConnection.objects.filter(pk=disabled.pk).update(enabled=False)

    totals = imap.poll_mailboxes(timezone.now())
    assert (totals["due"], totals["fetched"], totals["stored"], totals["failed"]) \
        == (1, 1, 1, 0)
    assert fresh(due).last_success_at is not None
    assert fresh(resting).next_attempt_at == later
    assert fresh(resting).last_checked_at is None
    assert fresh(disabled).last_checked_at is None
    assert imap.fetch_mailbox(disabled.pk).claimed is False


def test_connection_failures_are_told_in_words(
        acme: Tenant, dovecot: DovecotProcess, account: tuple[str, str]) -> None:
    closed = free_port()
    cases = {
        "refused": connect(acme, dovecot, account, port=closed),
        "tls": connect(acme, dovecot, account, security="ssl"),  # TLS to the plain port
        "self-signed": connect(acme, dovecot, account, security="ssl", port=dovecot.tls_port),
        "folder": connect(acme, dovecot, account, folder="Nowhere"),
    }
    errors = {name: imap.fetch_mailbox(box.pk).error for name, box in cases.items()}
    assert errors["refused"] == (f"127.0.0.1:{closed} refused the connection: no IMAP server "
                                 "listens on that port.")
    assert errors["tls"].startswith(f"The TLS connection to 127.0.0.1:{dovecot.port} failed "
                                    "(wrong version number)")
    assert errors["self-signed"].startswith(
        f"The TLS certificate of 127.0.0.1:{dovecot.tls_port} was not accepted: ")
    assert errors["folder"] == "The folder “Nowhere” does not exist in this mailbox."
    for name, box in cases.items():
        assert (fresh(box).failures, fresh(box).last_error) == (1, errors[name])


def test_the_password_is_encrypted_at_rest_and_never_logged(
        acme: Tenant, dovecot: DovecotProcess, account: tuple[str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # imapclient logs every command at DEBUG
    dovecot.deliver(account[0], message(1))
    good = connect(acme, dovecot, account)
    wrong = "Not-the-password-7"
    bad = connect(acme, dovecot, account, password=wrong)
    stored = MailboxConnection.objects.values_list("password_encrypted", flat=True)
    assert account[1] not in "".join(stored) and wrong not in "".join(stored)
    assert secretbox.decrypt(fresh(good).password_encrypted) == account[1]

    assert imap.fetch_mailbox(good.pk).stored == 1
    assert imap.fetch_mailbox(bad.pk).error
    assert imap.check_connection("127.0.0.1", dovecot.port, "none", account[0], wrong,
                                 "INBOX")
    assert "LOGIN" in caplog.text or "AUTHENTICATE" in caplog.text  # the log was on
    for secret in (account[1], wrong):
        plain = base64.b64encode(f"\0{account[0]}\0{secret}".encode()).decode()
        assert secret not in caplog.text and plain not in caplog.text
        assert secret not in fresh(bad).last_error


# --- the settings form's "Test connection" ---------------------------------------------------

def test_check_connection_answers_none_when_the_mailbox_works_each_way(
        dovecot: DovecotProcess, account: tuple[str, str], trust_test_ca: None) -> None:
    user, password = account
    assert imap.check_connection("127.0.0.1", dovecot.port, "none", user, password,
                                 "INBOX") is None
    assert imap.check_connection("127.0.0.1", dovecot.port, "starttls", user, password,
                                 "INBOX") is None
    assert imap.check_connection("127.0.0.1", dovecot.tls_port, "ssl", user, password,
                                 "INBOX") is None
    assert imap.check_connection("127.0.0.1", dovecot.port, "none", user, "nope",
                                 "INBOX") == (f"The server refused the login of {user}: "
                                              "[AUTHENTICATIONFAILED] Authentication failed.")
    assert imap.check_connection("127.0.0.1", 70000, "none", user, password, "INBOX") \
        == "The port must be a number from 1 to 65535."
    unknown = imap.check_connection("no-such-host.invalid", 993, "ssl", user, password, "INBOX")
    assert unknown is not None
    assert unknown.startswith("The server name no-such-host.invalid could not be found")


def test_a_fetch_over_tls_with_a_trusted_certificate_works(
        acme: Tenant, dovecot: DovecotProcess, account: tuple[str, str],
        trust_test_ca: None) -> None:
    dovecot.deliver(account[0], message(1))
    dovecot.deliver(account[0], message(2))
    over_ssl = connect(acme, dovecot, account, security="ssl", port=dovecot.tls_port)
    assert imap.fetch_mailbox(over_ssl.pk).stored == 2
    dovecot.deliver(account[0], message(3))
    over_starttls = connect(acme, dovecot, account, security="starttls")
    result = imap.fetch_mailbox(over_starttls.pk)  # another address of the same company
    assert (result.fetched, result.stored, result.duplicates) == (3, 1, 2)


@pytest.mark.parametrize("user", sorted(TRICKY_ACCOUNTS))
def test_any_password_a_person_may_have_logs_in(dovecot: DovecotProcess, user: str) -> None:
    password = TRICKY_ACCOUNTS[user]
    assert imap.check_connection("127.0.0.1", dovecot.port, "none", user, password,
                                 "INBOX") is None
    assert imap.check_connection("127.0.0.1", dovecot.port, "none", user, password + "!",
                                 "INBOX") is not None


def test_a_line_break_in_the_password_sends_no_command_of_its_own(
        dovecot: DovecotProcess) -> None:
    answer = imap.check_connection("127.0.0.1", dovecot.port, "none", "injected", INJECTION,
                                   "INBOX")
    # The whole password reached the server's check (AUTHENTICATE PLAIN, base64), which
    # refused it; LOGIN would have ended the command at the line break.
    assert answer == ("The server refused the login of injected: [AUTHENTICATIONFAILED] "
                      "Authentication failed.")


@hypothesis_settings(max_examples=30, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(folder=st.text(min_size=1, max_size=40))
def test_any_folder_name_gets_an_answer_never_a_crash(
        dovecot: DovecotProcess, account: tuple[str, str], folder: str) -> None:
    answer = imap.check_connection("127.0.0.1", dovecot.port, "none", *account, folder)
    assert answer is None or isinstance(answer, str) and answer
    assert answer is None or account[1] not in answer


# --- the periodic job -------------------------------------------------------------------------

def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 3, 8, hour, minute, second, tzinfo=UTC)


def test_every_minute_gives_the_latest_minute_only() -> None:
    assert periodic.every_minute(at(10, 0), at(10, 0, 59)) == []
    assert periodic.every_minute(at(10, 0), at(10, 1, 30)) == [at(10, 1)]
    # Down for an hour: one poll, not sixty.
    assert periodic.every_minute(at(9, 0), at(10, 0, 5)) == [at(10, 0)]


def test_the_scheduler_polls_the_mailboxes_each_minute_and_keeps_a_day_of_runs(
        transactional_db: Any) -> None:
    job = [j for j in periodic.JOBS if j.name == "mail.poll_mailboxes"]
    assert job and job[0].run == "plug2support.mail.imap.poll_mailboxes"
    PeriodicRun.objects.create(job="mail.poll_mailboxes", slot=at(9, 0) - timedelta(days=2),
                               claimed_by="old", claimed_at=at(9, 0) - timedelta(days=2),
                               finished_at=at(9, 0) - timedelta(days=2))
    with time_machine.travel(at(10, 0, 10), tick=False):
        assert periodic.tick(jobs=job) == [("mail.poll_mailboxes", at(10, 0))]
        assert periodic.tick(jobs=job) == []
    with time_machine.travel(at(10, 1, 40), tick=False):
        assert periodic.tick(jobs=job) == [("mail.poll_mailboxes", at(10, 1))]
    runs = PeriodicRun.objects.filter(job="mail.poll_mailboxes").order_by("slot")
    assert [run.slot for run in runs] == [at(10, 0), at(10, 1)]
    assert runs[1].result == {"due": 0, "fetched": 0, "stored": 0, "failed": 0, "busy": 0,
                              "crashed": 0, "not_started": 0}


def test_connecting_a_mailbox_imports_its_new_mail_not_its_years_of_old_mail(
        acme: Tenant, dovecot: DovecotProcess, account: tuple[str, str]) -> None:
    from datetime import UTC, datetime, timedelta

    user = account[0]
    dovecot.deliver(user, message(1), arrived=datetime.now(UTC) - timedelta(days=400))
    dovecot.deliver(user, message(2), arrived=datetime.now(UTC) - timedelta(days=3))
    recent = dovecot.deliver(user, message(3))
    mailbox = connect(acme, dovecot, account)
    result = imap.fetch_mailbox(mailbox.pk)
    assert (result.fetched, result.stored) == (1, 1)
    assert imported(mailbox) == [(recent, "m-3@example.com")]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254",
                                  "192.168.0.10", "::1"])
def test_a_mailbox_on_a_private_or_local_network_is_refused_before_connecting(
        settings: Any, host: str, dovecot: DovecotProcess) -> None:
    settings.MAIL_IMAP_ALLOW_PRIVATE = False
    error = imap.check_connection(host, dovecot.port, "none", "user", "a-long-password",
                                  "INBOX")
    assert error is not None and "private or local network" in error


def test_another_kind_of_server_is_named_without_echoing_its_greeting(
        acme: Tenant) -> None:
    import socketserver
    import threading

    class Smtp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.sendall(b"220 internal-host.corp ESMTP Postfix 3.7\r\n")

    server = socketserver.TCPServer(("127.0.0.1", 0), Smtp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        error = imap.check_connection("127.0.0.1", server.server_address[1], "none", "user",
                                      "a-long-password", "INBOX")
    finally:
        server.shutdown()
        server.server_close()
    assert error is not None and "does not answer as an IMAP server" in error
    assert "Postfix" not in error and "internal-host" not in error
