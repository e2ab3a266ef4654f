"""A received message as the channel needs it (F3, F5): the standard library's `email` with
the modern policy reads it; the text prefers the text/plain part of a multipart/alternative,
HTML-only mail gets its text from the HTML; the HTML is kept sanitised (nh3) for display;
files and inline `cid:` images are collected for the attachments' checks; quoted history
and signatures are folded away (quoting.py); automatic mail and delivery reports are
recognised so that they create no conversation (docs/email.md, "what counts as a loop").

`parse` never raises: a message it cannot read is kept as text with a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any

from flufl.bounce import scan_message

from .html_text import html_to_text, sanitise_html
from .ids import normalise_message_id
from .quoting import split_reply

MAX_PARTS = 100
MAX_DEPTH = 10
HEADER_MAX = 2000
_ID = re.compile(r"<([^<>\s]+)>")


@dataclass(frozen=True)
class MailFile:
    name: str
    content_type: str  # as the mail claims it: the caller detects the type from the bytes
    content: bytes
    content_id: str
    inline: bool


@dataclass(frozen=True)
class Authentication:
    checked: bool  # an Authentication-Results header was there
    passed: bool
    summary: str


@dataclass
class ParsedMail:
    message_id: str = ""
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    subject: str = ""
    from_address: str = ""
    from_name: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    date: datetime | None = None
    text: str = ""
    quoted: str = ""
    html: str = ""
    files: list[MailFile] = field(default_factory=list)
    automatic: str = ""
    bounced: list[str] = field(default_factory=list)
    is_bounce: bool = False
    authentication: Authentication = Authentication(False, False, "")
    warnings: list[str] = field(default_factory=list)


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # noqa: BLE001 (a header the policy cannot parse: read it raw)
        raw = message.get_all(name, failobj=[])
        value = raw[0] if raw else None
    if value is None:
        return ""
    return " ".join(str(value).split())[:HEADER_MAX].replace("\x00", "")


def _addresses(message: Message, name: str) -> list[str]:
    values = [str(v) for v in message.get_all(name, failobj=[])]
    found = []
    for _, address in getaddresses(values):
        address = address.strip().lower().replace("\x00", "")
        if "@" in address and len(address) <= 254 and address not in found:
            found.append(address)
    return found[:100]


def _ids(value: str) -> list[str]:
    return [i[:998] for i in _ID.findall(value)][:100]


def _automatic(message: Message, sender: str) -> str:
    """RFC 3834 and the usual marks of mail no person wrote (F3)."""
    auto = _header(message, "Auto-Submitted").lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto[:60]}"
    precedence = _header(message, "Precedence").lower()
    if precedence in ("bulk", "junk", "list"):
        return f"Precedence: {precedence}"
    if _header(message, "List-Id"):
        return "mail from a list (List-Id)"
    for name in ("X-Autoreply", "X-Autorespond"):
        if _header(message, name):
            return f"{name} header"
    local = sender.partition("@")[0]
    if local in ("mailer-daemon", "postmaster"):
        return f"from {local}"
    return ""


_RESULT = re.compile(r"\b(spf|dkim|dmarc)\s*=\s*([a-z]+)", re.IGNORECASE)


def _authentication(message: Message) -> Authentication:
    """The topmost Authentication-Results: the one the receiving server added (those below it
    came with the mail and may say anything)."""
    headers = message.get_all("Authentication-Results", failobj=[])
    if not headers:
        return Authentication(False, False, "")
    results: dict[str, str] = {}
    for method, verdict in _RESULT.findall(str(headers[0])):
        results.setdefault(method.lower(), verdict.lower())
    summary = " ".join(f"{m}={results[m]}" for m in ("spf", "dkim", "dmarc") if m in results)
    if "dmarc" in results:
        passed = results["dmarc"] == "pass"
    else:
        passed = "pass" in (results.get("dkim"), results.get("spf"))
    return Authentication(True, passed, summary)


def _charset_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:  # an unknown charset name
        return payload.decode("latin-1", "replace")


def _filename(part: Message, content_type: str, n: int) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:  # noqa: BLE001
        name = ""
    name = " ".join(str(name).split()).replace("/", "_").replace("\\", "_")[:200]
    if name:
        return name
    main, _, sub = content_type.partition("/")
    ext = {"jpeg": "jpg", "plain": "txt", "octet-stream": "bin"}.get(sub, sub)
    return f"{'image' if main == 'image' else 'attachment'}-{n}.{ext[:10] or 'bin'}"


class _Walker:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.files: list[MailFile] = []
        self.parts = 0
        self.warnings: list[str] = []

    def walk(self, part: Message, depth: int = 0) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            if self.parts == MAX_PARTS + 1:
                self.warnings.append(f"more than {MAX_PARTS} parts: the rest is not read")
            return
        if depth > MAX_DEPTH:
            self.warnings.append("parts nested too deep: not read")
            return
        content_type = part.get_content_type()
        if part.is_multipart():
            children = [p for p in part.get_payload() if isinstance(p, Message)]  # type: ignore[union-attr]
            if content_type == "multipart/alternative":
                self._alternative(children, depth)
            else:
                for child in children:
                    self.walk(child, depth + 1)
            return
        if content_type == "message/rfc822":
            self._forwarded(part, depth)
            return
        disposition = (part.get_content_disposition() or "").lower()
        if content_type in ("text/plain", "text/html") and disposition != "attachment":
            (self.texts if content_type == "text/plain" else self.htmls).append(
                _charset_text(part))
            return
        if content_type.startswith("multipart/") or content_type in (
                "message/delivery-status", "text/rfc822-headers"):
            return
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or not payload:
            return
        content_id = normalise_message_id(_header(part, "Content-ID"))
        self.files.append(MailFile(
            name=_filename(part, content_type, len(self.files) + 1), content_type=content_type,
            content=payload, content_id=content_id,
            inline=disposition == "inline" or (bool(content_id) and disposition != "attachment")))

    def _alternative(self, children: list[Message], depth: int) -> None:
        plain = [c for c in children if c.get_content_type() == "text/plain"]
        html = [c for c in children if c.get_content_type() == "text/html"]
        related = [c for c in children if c.is_multipart()]
        if plain:
            self.texts.append(_charset_text(plain[0]))
        if html:
            self.htmls.append(_charset_text(html[0]))
        for child in related:  # multipart/related inside: the HTML and its images
            before = len(self.texts)
            self.walk(child, depth + 1)
            if plain:
                del self.texts[before:]  # the text part said it already

    def _forwarded(self, part: Message, depth: int) -> None:
        inner = part.get_payload()
        message = inner[0] if isinstance(inner, list) and inner else inner
        if not isinstance(message, Message):
            return
        heading = ["---------- Forwarded message ----------"]
        for name in ("From", "Date", "Subject", "To"):
            if _header(message, name):
                heading.append(f"{name}: {_header(message, name)}")
        forwarded = _Walker()
        forwarded.parts = self.parts
        forwarded.walk(message, depth + 1)
        self.parts = forwarded.parts
        body = "\n".join(forwarded.texts) or html_to_text("\n".join(forwarded.htmls))
        self.texts.append("\n".join(heading) + "\n\n" + body)
        self.files.extend(forwarded.files)
        self.warnings.extend(forwarded.warnings)


def _bounced(message: Message) -> list[str]:
    try:
        found = scan_message(message)
    except Exception:  # noqa: BLE001 (a report it cannot read names nobody)
        return []
    addresses = []
    for address in found:
        text = address.decode("utf-8", "replace") if isinstance(address, bytes) else str(address)
        text = text.strip().strip("<>").lower()
        if "@" in text and text not in addresses:
            addresses.append(text[:254])
    return addresses


def _is_report(message: Message) -> bool:
    return (message.get_content_type() == "multipart/report"
            and str(message.get_param("report-type") or "").lower() == "delivery-status")


def parse(raw: bytes) -> ParsedMail:
    parsed = ParsedMail()
    try:
        message: Any = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as error:  # noqa: BLE001
        parsed.text = raw.decode("utf-8", "replace")[:100_000]
        parsed.warnings.append(f"not a readable message ({type(error).__name__}): kept as text")
        return parsed
    try:
        _read(message, parsed)
    except Exception as error:  # noqa: BLE001 (malformed MIME never stops a message)
        parsed.warnings.append(f"malformed message ({type(error).__name__}): kept as text")
        if not parsed.text:
            body = raw.partition(b"\r\n\r\n")[2] or raw.partition(b"\n\n")[2] or raw
            parsed.text = body.decode("utf-8", "replace")[:100_000]
    for defect in list(getattr(message, "defects", []))[:5]:
        parsed.warnings.append(f"malformed MIME: {type(defect).__name__}")
    return parsed


def _read(message: EmailMessage, parsed: ParsedMail) -> None:
    parsed.message_id = normalise_message_id(_header(message, "Message-ID"))
    parsed.in_reply_to = _ids(_header(message, "In-Reply-To"))
    parsed.references = _ids(_header(message, "References"))
    parsed.subject = _header(message, "Subject")[:998]
    name, address = parseaddr(_header(message, "From"))
    parsed.from_name = name.strip().strip('"')[:150]
    parsed.from_address = address.strip().lower()[:254] if "@" in address else ""
    parsed.to = _addresses(message, "To")
    parsed.cc = _addresses(message, "Cc")
    parsed.reply_to = _addresses(message, "Reply-To")
    try:
        parsed.date = parsedate_to_datetime(_header(message, "Date")) or None
    except (TypeError, ValueError, IndexError):
        parsed.date = None
    parsed.authentication = _authentication(message)
    parsed.automatic = _automatic(message, parsed.from_address)
    if _is_report(message) or parsed.automatic.startswith("from "):
        parsed.bounced = _bounced(message)
        parsed.is_bounce = _is_report(message) or bool(parsed.bounced)
        if parsed.is_bounce and not parsed.automatic:
            parsed.automatic = "a delivery status notification"
    walker = _Walker()
    walker.walk(message)
    parsed.warnings.extend(walker.warnings)
    parsed.files = walker.files
    html = "\n".join(walker.htmls)
    parsed.html = sanitise_html(html) if html.strip() else ""
    text = "\n\n".join(t for t in walker.texts if t.strip())
    if not text.strip() and html.strip():
        text = html_to_text(html)
    parsed.text, parsed.quoted = split_reply(text.replace("\r\n", "\n").replace("\x00", ""))
