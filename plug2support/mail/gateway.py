"""The inbound SMTP gateway (F4): `manage.py smtpd`, behind the inbound domain's MX or a
business's forwarding. It accepts mail for addresses of the inbound domain only (no open
relay: any other domain gets 550 at RCPT, before the message is sent), for support and
reply addresses that exist (else 550), up to MAIL_MAX_BYTES (552, announced with SIZE in
EHLO), and answers 250 only once intake.py has committed the message: a sender whose
connection drops before that sends again, and the Message-ID keeps it one message.
"""

from __future__ import annotations

import logging
from typing import Any, AnyStr

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from . import addresses
from .intake import accept_resolved
from .models import Via

log = logging.getLogger(__name__)

RECIPIENTS_MAX = 100


def _too_big() -> str:
    limit = settings.MAIL_MAX_BYTES
    return (f"552 5.3.4 Message too big: this server takes messages of at most "
            f"{limit // (1024 * 1024)} MB ({limit} bytes)")


class _Server(SMTP):
    async def push(self, status: AnyStr) -> None:
        # aiosmtpd's own words for a message over the limit say little to the person whose
        # mail came back: ours say how much is allowed.
        if isinstance(status, str) and status.startswith("552 Error"):
            await super().push(_too_big())
            return
        await super().push(status)


# Each runs in a thread of asgiref's pool. On PostgreSQL its connection goes back to the
# driver's pool when it is done, as at the end of a request, or the threads would keep them
# all; SQLite has no pool, and a thread keeps its file open (opening it again, with its
# PRAGMAs, cost a quarter of the gateway's time a message).

def _done() -> None:
    if connections["default"].vendor != "sqlite":
        connections.close_all()


def _resolve(address: str) -> addresses.Recipient | None:
    try:
        return addresses.resolve(address)
    finally:
        _done()


def _accept(raw: bytes, recipients: list[tuple[str, addresses.Recipient]]) -> int:
    try:
        return len(accept_resolved(raw, recipients, via=Via.SMTP))
    finally:
        _done()


def _resolved_of(envelope: Envelope) -> list[tuple[str, addresses.Recipient]]:
    # aiosmtpd makes a new Envelope for each transaction (after DATA or RSET).
    found: list[tuple[str, addresses.Recipient]] | None = getattr(envelope, "p2s_resolved", None)
    if found is None:
        found = []
        envelope.p2s_resolved = found  # type: ignore[attr-defined]
    return found


class Handler:
    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= RECIPIENTS_MAX:
            # RFC 5321 §4.5.3.1.8: a server may take as few as 100; the sender sends the rest
            # in another transaction.
            return f"452 4.5.3 Too many recipients: at most {RECIPIENTS_MAX} per message"
        if not addresses.is_inbound_domain(address):
            return (f"550 5.7.1 Relaying denied: this server takes mail for "
                    f"@{settings.INBOUND_EMAIL_DOMAIN} only")
        found = await sync_to_async(_resolve, thread_sensitive=False)(address)
        if found is None:
            return "550 5.1.1 No such mailbox here: check the support address"
        envelope.rcpt_tos.append(address)
        # What RCPT found is what DATA stores for (one lookup a recipient, not two).
        _resolved_of(envelope).append((address, found))
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        if len(raw) > settings.MAIL_MAX_BYTES:
            return _too_big()
        try:
            await sync_to_async(_accept, thread_sensitive=False)(raw, _resolved_of(envelope))
        except Exception:  # noqa: BLE001 (the sender retries a 4xx: nothing is lost)
            log.exception("inbound mail could not be stored")
            return "451 4.3.0 Could not store the message now: please try again later"
        return "250 OK: queued"


class Gateway(Controller):
    def factory(self) -> SMTP:
        return _Server(self.handler, data_size_limit=settings.MAIL_MAX_BYTES,
                       decode_data=False, hostname=settings.INBOUND_EMAIL_DOMAIN,
                       ident="Plug2Support inbound", **self.SMTP_kwargs)


def start_gateway(host: str, port: int, **kwargs: Any) -> Gateway:
    """The gateway in a thread of its own (its own event loop): `manage.py smtpd`, `run`
    and the tests."""
    gateway = Gateway(Handler(), hostname=host, port=port, **kwargs)
    gateway.start()
    return gateway
