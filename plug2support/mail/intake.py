"""Mail in (F4): every way in — the SMTP gateway, the providers' webhooks, a connected
mailbox — ends here. The message is stored raw for its company (once per Message-ID: a
redelivery is the same row) and handed to the worker, which threads it into a conversation
(processing.py). Storing first means nothing is lost when the worker is away or the company
is blocked (H6); the SMTP gateway answers 250 only after this commit.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from . import addresses
from .ids import message_key, normalise_message_id
from .models import InboundMail, MailboxConnection, SupportAddress, Via
from .processing import process_inbound

log = logging.getLogger(__name__)

_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_FROM = re.compile(rb"^from:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")


def header_block(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    return raw if end < 0 else raw[:end]


def _first(pattern: re.Pattern[bytes], headers: bytes) -> str:
    match = pattern.search(headers)
    # NUL is no character of a header and PostgreSQL refuses it in text.
    return match.group(1).decode("utf-8", "replace").replace("\x00", "") if match else ""


@dataclass(frozen=True)
class Accepted:
    mail: InboundMail
    duplicate: bool


def _store(raw: bytes, support: SupportAddress, *, recipient: str, via: str, provider: str = "",
           mailbox: MailboxConnection | None = None, uidvalidity: int | None = None,
           uid: int | None = None) -> Accepted:
    headers = header_block(raw)
    message_id = normalise_message_id(_first(_MESSAGE_ID, headers))
    key = message_key(message_id, raw)
    sender_match = _ADDRESS.search(_first(_FROM, headers))
    sender = sender_match.group(0).lower()[:254] if sender_match else ""
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
    # The task row is written in this transaction: a worker sees it once the mail commits.
    process_inbound.enqueue(mail.pk)
    return Accepted(mail, duplicate=False)


def accept(raw: bytes, recipients: list[str], *, via: str, provider: str = "") -> list[Accepted]:
    """Store `raw` for each company among `recipients` (addresses on the inbound domain;
    others are ignored). One company written to twice (its address and a reply address)
    stores it once."""
    stored: list[Accepted] = []
    seen: set[int] = set()
    for recipient in recipients:
        found = addresses.resolve(recipient)
        if found is None or found.address.company_id in seen:
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
