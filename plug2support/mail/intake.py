"""Mail in (F4): every way in — the SMTP gateway, the providers' webhooks, a connected
mailbox — ends here. The message is stored raw for its company (once per Message-ID: a
redelivery is the same row) and handed to the worker, which threads it into a conversation
(processing.py). Storing first means nothing is lost when the worker is away or the company
is blocked (H6); the SMTP gateway answers 250 only after this commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr

from django.conf import settings
from django.db import IntegrityError, transaction

from . import addresses, queue
from .ids import message_key, normalise_message_id, without_controls
from .models import InboundMail, MailboxConnection, SupportAddress, Via
from .processing import process_now

log = logging.getLogger(__name__)

def _headers(raw: bytes) -> tuple[str, str]:
    """The Message-ID and the sender's address, read with the standard library's header
    parser (it stops at the body): enough to store the mail once; the worker parses it
    whole."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
        message_id, sender = str(headers.get("Message-ID", "")), str(headers.get("From", ""))
    except Exception:  # noqa: BLE001 (headers it cannot read: the raw bytes are the key)
        return "", ""
    address = without_controls(parseaddr(sender)[1]).lower()
    return normalise_message_id(message_id), address[:254] if "@" in address else ""


@dataclass(frozen=True)
class Accepted:
    mail: InboundMail
    duplicate: bool


def _store(raw: bytes, support: SupportAddress, *, recipient: str, via: str, provider: str = "",
           mailbox: MailboxConnection | None = None, uidvalidity: int | None = None,
           uid: int | None = None) -> Accepted:
    message_id, sender = _headers(raw)
    key = message_key(message_id, raw)
    keep = settings.MAIL_RAW_KEEP_BYTES
    try:
        with transaction.atomic():
            mail = InboundMail.objects.create(
                company_id=support.company_id, address=support, via=via, provider=provider,
                recipient=recipient[:254], sender=sender, message_key=key,
                message_id=message_id, raw=raw[:keep], raw_truncated=len(raw) > keep,
                mailbox=mailbox, uidvalidity=uidvalidity, uid=uid)
    except IntegrityError:
        existing = InboundMail.objects.get(company_id=support.company_id, message_key=key)
        return Accepted(existing, duplicate=True)
    if settings.MAIL_PROCESS_AT_ONCE:
        process_now(mail.pk)  # the tests' mode, as django-tasks' immediate backend
    else:
        # The row is the queue entry (queue.py): a worker's drain takes it once it commits.
        transaction.on_commit(queue.wake)
    return Accepted(mail, duplicate=False)


def accept(raw: bytes, recipients: list[str], *, via: str, provider: str = "") -> list[Accepted]:
    """Store `raw` for each company among `recipients` (addresses on the inbound domain;
    others are ignored). One company written to twice (its address and a reply address)
    stores it once."""
    resolved = [(r, found) for r in recipients if (found := addresses.resolve(r)) is not None]
    return accept_resolved(raw, resolved, via=via, provider=provider)


def accept_resolved(raw: bytes, recipients: list[tuple[str, addresses.Recipient]], *,
                    via: str, provider: str = "") -> list[Accepted]:
    """`accept` for recipients already resolved (the SMTP gateway's, at RCPT)."""
    stored: list[Accepted] = []
    seen: set[int] = set()
    for recipient, found in recipients:
        if found.address.company_id in seen:
            continue
        seen.add(found.address.company_id)
        stored.append(_store(raw, found.address, recipient=recipient, via=via,
                             provider=provider))
    return stored


def accept_from_mailbox(raw: bytes, mailbox: MailboxConnection, *, uidvalidity: int,
                        uid: int) -> Accepted:
    """A message fetched from a company's connected mailbox: it is the mailbox's company's
    whatever its To says."""
    return _store(raw, mailbox.address, recipient=mailbox.address.address, via=Via.IMAP,
                  mailbox=mailbox, uidvalidity=uidvalidity, uid=uid)
