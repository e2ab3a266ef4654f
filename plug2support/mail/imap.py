"""Connected mailboxes over IMAP (F4): a company's own mailbox, fetched by a periodic job.

What a fetch does, in order (`fetch_mailbox`):
1. Claims the mailbox (the lease, below). Not claimed: someone else is fetching it, or its
   back-off runs; nothing happens.
2. Connects (SSL/TLS, STARTTLS or plain; TIMEOUT on every socket operation), logs in,
   selects the folder and reads its UIDVALIDITY. A UIDVALIDITY other than the stored one
   means the stored UIDs are void (the folder was recreated or restored): it starts over
   from UID 0, and the Message-ID key of intake.py keeps the messages already stored from
   being stored twice.
3. UID SEARCH for the UIDs above `last_uid` (a server answers "n:*" with its last message
   even when that is below n, so the answer is filtered; the first FETCH_LIMIT of them this
   time, the rest at the next polls), then RFC822.SIZE for each:
   a message over MAIL_MAX_BYTES is never downloaded; it is noted in `last_error` and
   passed over.
4. Batches (at most BATCH_MESSAGES, BATCH_BYTES), in UID order. Each batch is downloaded
   with BODY.PEEK[] (which leaves \\Seen alone), then, in one transaction, the lease is
   checked and `last_uid` moved to the batch's last UID, and every message is handed to
   intake.accept_from_mailbox. Only after that commit are the messages flagged \\Seen.
   Dying before the commit leaves nothing behind (the next fetch downloads the batch
   again); dying after it leaves the batch stored once, perhaps still unseen on the
   server — never stored twice, never lost. (\\Seen is a courtesy to the people reading
   the mailbox; what decides what is fetched is `last_uid`.)

The lease, without a field of its own (models.py has none): `next_attempt_at` says when the
mailbox may next be fetched, so a claim is the conditional UPDATE "where enabled and
(next_attempt_at is null or ≤ now): set next_attempt_at = now + LEASE, last_checked_at =
now". It is one statement, so two workers cannot both win it: on PostgreSQL the second
waits for the first's row lock and re-reads the condition, on SQLite writes are serialised.
`last_checked_at`, set by the claim to the claim's own moment, is the lease's token: every
later write of this fetch (the lease renewed before each batch, each batch's commit, the
outcome) is conditioned on it being unchanged, so a worker whose lease ran out and was
taken over (it stalled longer than LEASE) has its batch rolled back and stops; the new
holder re-reads `last_uid` after its own claim. The token is unique because a second claim
can only come after the first lease ended. The lease also keeps a failing mailbox from
being retried early: the outcome of a failure sets next_attempt_at to the back-off
(2^failures minutes, at most 6 hours); a success sets it to None (due at the next poll).
The clocks of the workers are assumed to agree to well within LEASE.

Errors of the mailbox (DNS, refused connection, TLS, login, a missing folder, a broken
connection) are the mailbox's outcome: a clear text in `last_error` (the password is never
in it, nor in a log line), `failures` + 1, the back-off, and the company's admins and owners
e-mailed on the first failure after a success. Anything else (the database, a bug) is not
the mailbox's fault: it propagates, and the lease keeps the mailbox from being retried
before LEASE.
"""

from __future__ import annotations

import imaplib
import ipaddress
import logging
import re
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from imapclient import IMAPClient

from plug2support.accounts.models import ADMIN_ROLES, Membership
from plug2support.lib import secretbox
from plug2support.lib.mail import queue_templated_email

from . import intake
from .models import MailboxConnection, Security

log = logging.getLogger(__name__)

TIMEOUT = 20.0  # seconds, for the connection and for every read or write after it
LEASE = timedelta(minutes=10)
MAX_BACKOFF = timedelta(hours=6)
BATCH_MESSAGES = 50
BATCH_BYTES = 20 * 1024 * 1024
SIZE_CHUNK = 500  # UIDs per RFC822.SIZE request (keeps the command line short)
# Messages per fetch: a folder's first fetch (years of mail) goes on at the next polls
# instead of holding a worker, and the other mailboxes, for an hour.
FETCH_LIMIT = 500
POLL_BUDGET = 50.0  # seconds: a poll starts no new fetch after this; the next poll goes on
ERROR_MAX = 2000
SETTINGS_URL = "/settings/email/"


@dataclass
class FetchResult:
    claimed: bool = True  # False: another worker holds the mailbox, or its back-off runs
    fetched: int = 0  # messages downloaded
    stored: int = 0  # new InboundMail rows
    duplicates: int = 0  # downloaded but stored already (same Message-ID)
    skipped: int = 0  # over MAIL_MAX_BYTES, not downloaded
    left: int = 0  # new messages beyond FETCH_LIMIT, for the next fetch
    error: str = ""  # the failure's text, as written to last_error
    notes: list[str] = field(default_factory=list)  # what was skipped, and why


class MailboxError(Exception):
    """A failure of the mailbox itself, already in words for its admins."""


class _LeaseLost(Exception):
    """Another worker took the mailbox over (this one's lease ran out): stop, change nothing."""


# --- connecting -------------------------------------------------------------------------

def tls_context() -> ssl.SSLContext:
    """Certificates checked against the system's CAs and the host name, as mail clients do.
    (The tests replace this to trust their own CA.)"""
    return ssl.create_default_context()


_ATOM = re.compile(r"[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|}~]+")  # RFC 3501 ASTRING-CHARs


def _login(client: IMAPClient, username: str, password: str) -> None:
    # AUTHENTICATE PLAIN carries any UTF-8 (base64, nothing to quote); imaplib's LOGIN
    # sends the user name unquoted and the password as ASCII, and would send a line break
    # in either as the end of the command. So LOGIN only where it is safe and needed.
    capabilities = client.capabilities()
    if "\0" in username or "\0" in password:
        raise MailboxError("The user name or password contains a NUL character, which no "
                           "IMAP login can carry.")
    if b"AUTH=PLAIN" in capabilities:
        client.plain_login(username, password)
        return
    if b"LOGINDISABLED" in capabilities:
        raise MailboxError("The server refuses to log in without encryption: choose SSL/TLS "
                           "or STARTTLS.")
    if not (_ATOM.fullmatch(username) and password.isascii() and password.isprintable()):
        raise MailboxError("The server only offers the LOGIN command, which cannot send the "
                           "characters of this user name or password.")
    client.login(username, password)


@contextmanager
def _session(host: str, port: int, security: str, username: str, password: str,
             folder: str, *, readonly: bool) -> Iterator[tuple[IMAPClient, int]]:
    """A logged-in client with `folder` selected, and the folder's UIDVALIDITY."""
    if security not in Security.values:
        raise ValueError(f"unknown security {security!r}")
    if not 1 <= port <= 65535:
        raise MailboxError("The port must be a number from 1 to 65535.")
    if any(ord(char) < 32 for char in folder):
        raise MailboxError("The folder name contains a control character.")
    _check_public(host, port)
    try:
        client = IMAPClient(host, port, ssl=security == Security.SSL,
                            ssl_context=tls_context() if security == Security.SSL else None,
                            timeout=TIMEOUT)
    except ssl.SSLError:  # a certificate refused is a ValueError too: not the host's name
        raise
    except (UnicodeError, ValueError) as error:
        raise MailboxError(f"The server name {host!r} is not a valid host name.") from error
    try:
        if security == Security.STARTTLS:
            if b"STARTTLS" not in client.capabilities():
                raise MailboxError(f"{host}:{port} does not offer STARTTLS: choose SSL/TLS "
                                   "(usually port 993), or None on a trusted network.")
            client.starttls(tls_context())
        try:
            _login(client, username, password)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as error:
            raise MailboxError(f"The server refused the login of {username}: "
                               f"{_server_text(error)}") from error
        try:
            selected = client.select_folder(folder, readonly=readonly)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as error:
            if not client.folder_exists(folder):
                raise MailboxError(f"The folder “{folder}” does not exist in this mailbox.") \
                    from error
            raise MailboxError(f"The folder “{folder}” could not be opened: "
                               f"{_server_text(error)}") from error
        uidvalidity = selected.get(b"UIDVALIDITY")
        if not isinstance(uidvalidity, int):
            raise MailboxError(f"The server gave no UIDVALIDITY for “{folder}”, so new mail "
                               "cannot be told from old.")
        yield client, uidvalidity
    finally:
        try:
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            client.shutdown()


def _check_public(host: str, port: int) -> None:
    """A company's mailbox is a server on the internet: not this machine, not our private
    network, not a cloud's metadata address (a settings form that connects anywhere would be
    a port scanner of our network). MAIL_IMAP_ALLOW_PRIVATE lifts it for a deployment whose
    mail server is on its own network (and for the tests' Dovecot). The name is resolved here
    and again by the connection: a name that changes in between (DNS rebinding) is a known
    limit (docs/email.md)."""
    if settings.MAIL_IMAP_ALLOW_PRIVATE:
        return
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as error:
        raise MailboxError(f"The server name {host!r} is not a valid host name.") from error
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        if not ip.is_global:
            raise MailboxError(f"{host} is on a private or local network ({ip}): a connected "
                               "mailbox must be an IMAP server on the internet.")


def _server_text(error: BaseException) -> str:
    """The server's own words, without imaplib's wrapping (b'...', "select failed: ")."""
    text = str(error)
    match = re.fullmatch(r"b(['\"])(.*)\1", text)
    if match:
        text = match.group(2)
    text = re.sub(r"^\w+ failed: ", "", text)
    return re.sub(r"\s*\(\d+\.\d+ \+ \d+\.\d+(?: \+ \d+\.\d+)? secs\)\.?$", "", text) \
        or "no reason given"


def explain(error: BaseException, host: str, port: int) -> str:
    """A failure in words an admin can act on."""
    where = f"{host}:{port}"
    if isinstance(error, MailboxError):
        return str(error)
    if isinstance(error, secretbox.SecretBoxError):
        return ("The saved password can no longer be read (the server's secret key changed): "
                "enter the password again.")
    if isinstance(error, socket.gaierror):
        return f"The server name {host} could not be found ({error.strerror})."
    if isinstance(error, ConnectionRefusedError):
        return f"{where} refused the connection: no IMAP server listens on that port."
    if isinstance(error, TimeoutError):
        return f"{where} did not answer within {TIMEOUT:.0f} seconds."
    if isinstance(error, ssl.SSLCertVerificationError):
        return (f"The TLS certificate of {where} was not accepted: {error.verify_message}. "
                "A self-signed certificate cannot be used.")
    if isinstance(error, ssl.SSLError):
        reason = (error.reason or str(error)).replace("_", " ").lower()
        return (f"The TLS connection to {where} failed ({reason}). Check the port and the "
                "security: SSL/TLS is usually port 993, STARTTLS and None port 143.")
    if isinstance(error, imaplib.IMAP4.error) and "unexpected response" in str(error):
        # Another kind of server: what it says of itself is not shown back.
        return f"{where} does not answer as an IMAP server: check the host and the port."
    if isinstance(error, imaplib.IMAP4.abort):
        return f"The connection to {where} broke off: {_server_text(error)}."
    if isinstance(error, imaplib.IMAP4.error):
        return f"{where} answered with an error: {_server_text(error)}."
    if isinstance(error, OSError):
        return f"{where} could not be reached: {error.strerror or error}."
    return f"{where}: {error}"


MAILBOX_ERRORS = (MailboxError, secretbox.SecretBoxError, OSError, imaplib.IMAP4.error)


def _clean(text: str, password: str) -> str:
    # A server echoing what it was sent (some do, in a BAD answer) must not put the
    # password on the settings page or in the log.
    if password:
        text = text.replace(password, "[password]")
    return text[:ERROR_MAX]


def check_connection(host: str, port: int, security: str, username: str, password: str,
                     folder: str) -> str | None:
    """The settings form's "Test connection": None when the mailbox can be fetched, else
    why not (the text fetches would record)."""
    try:
        with _session(host, port, security, username, password, folder, readonly=True):
            return None
    except MAILBOX_ERRORS as error:
        return _clean(explain(error, host, port), password)


# --- the lease ----------------------------------------------------------------------------

def _claim(mailbox_id: int, now: datetime) -> bool:
    return MailboxConnection.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        pk=mailbox_id, enabled=True,
    ).update(next_attempt_at=now + LEASE, last_checked_at=now) == 1


def _ours(mailbox: MailboxConnection, token: datetime) -> QuerySet[MailboxConnection]:
    return MailboxConnection.objects.filter(pk=mailbox.pk, last_checked_at=token)


def _renew(mailbox: MailboxConnection, token: datetime, **fields: object) -> None:
    if _ours(mailbox, token).update(next_attempt_at=timezone.now() + LEASE, **fields) != 1:
        raise _LeaseLost


# --- fetching -----------------------------------------------------------------------------

def _batches(uids: list[int], sizes: dict[int, int]) -> Iterator[list[int]]:
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= BATCH_MESSAGES or total + size > BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    return f"{-(-size // 1024)} KB"


class _Fetch:
    """One fetch of one claimed mailbox."""

    def __init__(self, mailbox: MailboxConnection, token: datetime, result: FetchResult):
        self.mailbox, self.token, self.result = mailbox, token, result
        self.uidvalidity = mailbox.uidvalidity
        self.last_uid = mailbox.last_uid

    def run(self, client: IMAPClient, uidvalidity: int) -> None:
        if uidvalidity != self.mailbox.uidvalidity:
            if self.mailbox.uidvalidity is not None:
                log.info("mailbox %s: UIDVALIDITY %s → %s, fetching the folder again",
                         self.mailbox.pk, self.mailbox.uidvalidity, uidvalidity)
            self.uidvalidity, self.last_uid = uidvalidity, 0
        # Only mail from the day before the mailbox was connected on: connecting a business's
        # Gmail must not turn its years of mail into conversations (the server's SINCE reads
        # the arrival date, by day).
        since = (self.mailbox.created_at - timedelta(days=1)).date()
        uids = sorted(uid for uid in client.search(["UID", f"{self.last_uid + 1}:*",
                                                    "SINCE", since])
                      if uid > self.last_uid)
        self.result.left = max(0, len(uids) - FETCH_LIMIT)
        uids = uids[:FETCH_LIMIT]
        sizes: dict[int, int] = {}
        for start in range(0, len(uids), SIZE_CHUNK):
            for uid, data in client.fetch(uids[start:start + SIZE_CHUNK],
                                          ["RFC822.SIZE"]).items():
                sizes[uid] = int(data.get(b"RFC822.SIZE", 0))
        for batch in _batches(uids, sizes):
            self._batch(client, batch, sizes)

    def _batch(self, client: IMAPClient, batch: list[int], sizes: dict[int, int]) -> None:
        limit = settings.MAIL_MAX_BYTES
        wanted = [uid for uid in batch if sizes.get(uid, 0) <= limit]
        for uid in batch:
            if uid in sizes and sizes[uid] > limit:
                self._skip(uid, sizes[uid])
        _renew(self.mailbox, self.token)  # still ours before a long download
        bodies: dict[int, bytes] = {}
        if wanted:
            for uid, data in client.fetch(wanted, ["BODY.PEEK[]"]).items():
                raw = data.get(b"BODY[]")
                if not isinstance(raw, bytes):
                    raise MailboxError(f"The server sent no content for message UID {uid}.")
                if len(raw) > limit:  # the server's RFC822.SIZE was wrong
                    self._skip(uid, len(raw))
                    continue
                bodies[uid] = raw
        # UIDs in `batch` missing from the answer were expunged meanwhile: passed over.
        self.result.fetched += len(bodies)
        assert self.uidvalidity is not None
        with transaction.atomic():
            # The lease first: it locks the row, so no takeover can start before this
            # commits, and a lease already lost rolls the batch back.
            _renew(self.mailbox, self.token, uidvalidity=self.uidvalidity,
                   last_uid=batch[-1])
            stored = duplicates = 0
            for uid, raw in bodies.items():
                accepted = intake.accept_from_mailbox(raw, self.mailbox,
                                                      uidvalidity=self.uidvalidity, uid=uid)
                duplicates += accepted.duplicate
                stored += not accepted.duplicate
        self.result.stored += stored
        self.result.duplicates += duplicates
        self.last_uid = batch[-1]
        if bodies:
            client.add_flags(list(bodies), [b"\\Seen"], silent=True)

    def _skip(self, uid: int, size: int) -> None:
        self.result.skipped += 1
        when = timezone.now().strftime("%Y-%m-%d %H:%M UTC")
        self.result.notes.append(
            f"{when}: message UID {uid} in “{self.mailbox.folder}” was not fetched: "
            f"{_size(size)}, over the {_size(settings.MAIL_MAX_BYTES)} limit.")
        log.warning("mailbox %s: UID %s skipped, %s bytes", self.mailbox.pk, uid, size)


def fetch_mailbox(mailbox_id: int) -> FetchResult:
    """Fetch the mailbox's new mail once, if no other worker is and its back-off allows.
    Commits as it goes: never call it inside a transaction."""
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("fetch_mailbox commits per batch: call it outside a transaction")
    token = timezone.now()
    if not _claim(mailbox_id, token):
        return FetchResult(claimed=False)
    mailbox = MailboxConnection.objects.select_related("address", "company").get(pk=mailbox_id)
    result = FetchResult()
    fetch = _Fetch(mailbox, token, result)
    password = ""
    try:
        password = secretbox.decrypt(mailbox.password_encrypted)
        with _session(mailbox.host, mailbox.port, mailbox.security, mailbox.username,
                      password, mailbox.folder, readonly=False) as (client, uidvalidity):
            fetch.run(client, uidvalidity)
    except _LeaseLost:
        log.warning("mailbox %s: lease lost to another worker; this fetch stops", mailbox.pk)
        return result
    except MAILBOX_ERRORS as error:
        result.error = _clean(explain(error, mailbox.host, mailbox.port), password)
        _failed(mailbox, token, result)
        return result
    _succeeded(fetch)
    return result


def _succeeded(fetch: _Fetch) -> None:
    mailbox, result = fetch.mailbox, fetch.result
    # last_error after a success: what this fetch skipped; else an earlier fetch's note of
    # a skipped message stays (with failures at 0, last_error can only be such a note),
    # while a connection error, now over, is cleared.
    if result.notes:
        note = _clean("\n".join(result.notes), "")
    else:
        note = mailbox.last_error if mailbox.failures == 0 else ""
    fields: dict[str, object] = {
        "failures": 0, "last_error": note, "last_success_at": timezone.now(),
        "next_attempt_at": None, "last_uid": fetch.last_uid}
    if fetch.uidvalidity is not None:
        fields["uidvalidity"] = fetch.uidvalidity
    _ours(mailbox, fetch.token).update(**fields)


def backoff(failures: int) -> timedelta:
    return min(timedelta(minutes=2 ** min(failures, 12)), MAX_BACKOFF)


def _failed(mailbox: MailboxConnection, token: datetime, result: FetchResult) -> None:
    log.warning("mailbox %s (%s): %s", mailbox.pk, mailbox, result.error)
    if result.notes:  # skipped before the failure: keep saying so
        result.error = _clean("\n".join([result.error, *result.notes]), "")
    with transaction.atomic():
        row = (MailboxConnection.objects.select_for_update()
               .filter(pk=mailbox.pk, last_checked_at=token).first())
        if row is None:
            return  # taken over: the new holder reports its own outcome
        # Read under the row's lock (SQLite: the write lock), so the count is current.
        row.failures += 1
        row.last_error = result.error
        row.next_attempt_at = timezone.now() + backoff(row.failures)
        row.save(update_fields=["failures", "last_error", "next_attempt_at"])
        if row.failures == 1:
            _tell_admins(mailbox, result.error)


def _tell_admins(mailbox: MailboxConnection, error: str) -> None:
    context = {"company": mailbox.company.name, "mailbox": str(mailbox),
               "address": mailbox.address.address, "error": error, "url": SETTINGS_URL}
    admins = (Membership.objects.filter(company_id=mailbox.company_id, role__in=ADMIN_ROLES,
                                        user__is_active=True)
              .values_list("user__email", flat=True).order_by("user__email"))
    for address in admins:
        queue_templated_email([address], "mailbox_failed", context)


def poll_mailboxes(slot: datetime) -> dict[str, int]:
    """The periodic job (ops/periodic.py, every minute): fetch every enabled mailbox that is
    due, longest unchecked first, until POLL_BUDGET; those left are the next poll's."""
    now = timezone.now()
    due = list(MailboxConnection.objects
               .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
                       enabled=True)
               .order_by(F("last_checked_at").asc(nulls_first=True), "pk")
               .values_list("pk", flat=True))
    totals = {"due": len(due), "fetched": 0, "stored": 0, "failed": 0, "busy": 0,
              "crashed": 0, "not_started": 0}
    started = time.monotonic()
    for index, mailbox_id in enumerate(due):
        if time.monotonic() - started > POLL_BUDGET:
            totals["not_started"] = len(due) - index
            break
        try:
            result = fetch_mailbox(mailbox_id)
        except Exception:  # noqa: BLE001 (one mailbox's bug must not stop the others)
            log.exception("fetching mailbox %s failed", mailbox_id)
            totals["crashed"] += 1
            continue
        totals["fetched"] += result.fetched
        totals["stored"] += result.stored
        totals["failed"] += bool(result.error)
        totals["busy"] += not result.claimed
    return totals
