"""A raw message as the team reads it (F3, F5): who wrote it, to whom, in reply to what; its
new words apart from the quoted history and signature; its HTML made safe; its attachments
and inline images; whether it is automatic mail or a bounce; and what the receiving server
said of its sender. Pure functions over bytes: nothing here touches the database.

`parse` never raises and its time is bounded whatever the bytes: a part of the message it
cannot read is kept as text with a warning. The standard library's `email` with the modern
policy reads the MIME; the bounds it lacks are added here (see `_Policy`, `PARTS_MAX`,
`DEPTH_MAX`, and html_text.py for the HTML).
"""

from __future__ import annotations

import codecs
import html
import mimetypes
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import utils
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from typing import Any

from flufl.bounce import scan_message

from . import authresults, html_text, quoting
from .ids import normalise_message_id

PARTS_MAX = 100
DEPTH_MAX = 10
HEADER_MAX_CHARS = 4000
HTML_MAX_CHARS = 1_000_000
IDS_MAX = 100
ADDRESSES_MAX = 100
NAME_MAX = 150
VALUES_MAX = 50  # values of one header name kept (Received, Authentication-Results …)
REPORT_BLOCKS_MAX = 200  # recipients read from one delivery report
BOUNCE_SCAN_BYTES = 128 * 1024


@dataclass(frozen=True)
class MailFile:
    name: str  # sanitised; a nameless part gets one from its type ("image.png", "attachment")
    content_type: str  # as the mail claims it: the attachment checks decide from the bytes
    content: bytes
    content_id: str  # the part's Content-ID without <> (what "cid:" in the HTML names), or ""
    inline: bool  # Content-Disposition inline, or none given and a Content-ID


@dataclass(frozen=True)
class Authentication:
    checked: bool  # an Authentication-Results header (of a named server, if any were named)
    passed: bool  # see authresults.py; False when not checked: unknown, not failed
    summary: str  # the verdicts, e.g. "spf=fail dkim=none dmarc=fail"; "none" when it has none


@dataclass(frozen=True)
class ParsedMail:
    message_id: str  # without <>, as ids.normalise_message_id makes it; "" when none
    in_reply_to: list[str]  # message ids without <>
    references: list[str]  # the first and the last IDS_MAX - 1 of a longer list
    subject: str  # RFC 2047 decoded, on one line
    from_address: str  # the first From address, lower-cased; "" when none or unreadable
    from_name: str
    to: list[str]  # lower-cased addr-specs, each once
    cc: list[str]
    reply_to: list[str]
    date: datetime | None  # aware (UTC when the mail gives no zone)
    text: str  # the new words: text/plain, else derived from the HTML
    quoted: str  # the quoted history and signature below them, "" when none
    html: str  # the HTML sanitised for display (cid: sources kept), "" when none
    files: list[MailFile]  # attachments, inline images, a forwarded mail's attachments
    automatic: str  # why it is a machine's mail (no conversation, no reply), or ""
    bounced: list[str]  # a bounce's permanently failed recipients, lower-cased
    is_bounce: bool  # a delivery status report, or the mail system's mail naming failures
    authentication: Authentication  # the topmost (or named servers') Authentication-Results
    warnings: list[str] = field(default_factory=list)  # what could not be read as it should


_LINE_ENDS = re.compile(r"\r\n?|\n")
_ESCAPED = re.compile("[\udc80-\udcff]")  # how the parser keeps undecodable bytes
# MIME structure headers are read by Message's own string methods (get_content_type,
# get_param, get_filename), which need no header object. The modern policy's parser of
# these is quadratic: a Content-Type of 4,000 quote marks takes 0.8 s, 16,000 take 8 s, and
# the parser reads each part's several times.
_PLAIN_HEADERS = frozenset({"content-type", "content-disposition"})
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff]|[\ud800-\udfff]")


def _clean(text: str) -> str:
    """What may be stored and shown: no NUL (PostgreSQL refuses it), no other control
    characters (C0 but tab and line feed, C1), no byte-order marks (iOS starts quotes with
    one), no lone surrogates."""
    return _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _redecoded(value: str) -> str:
    """A header's raw 8-bit bytes (UTF-8 from most clients, else Windows-1252) as text: the
    parser hands them over as surrogate escapes, which would become U+FFFD."""
    if not _ESCAPED.search(value):
        return value
    data = value.encode("ascii", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


class _Policy(EmailPolicy):
    """The modern policy, with each header read at most HEADER_MAX_CHARS into (the address
    parser takes 0.1 s for 4,000 characters) and the MIME structure headers as strings."""

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if hasattr(value, "name"):
            return value
        value = _clean(_redecoded("".join(_LINE_ENDS.split(value)))[:HEADER_MAX_CHARS])
        if name.lower() in _PLAIN_HEADERS:
            return value
        return self.header_factory(name, value)


_POLICY = _Policy()
_SPACES = re.compile(r"\s+")
_ANGLE_ID = re.compile(r"<([^<>\s]+)>")
_ADDRESS = re.compile(r"[^\s<>\"'(),;:\[\]]+@[^\s<>\"'(),;:\[\]]+")
_WORD_CHARSET = re.compile(r"=\?([^?\s*]{1,40})(\*[^?\s]*)?\?([qQbB])\?")
_DEFECT_WORDS = re.compile(r"(?<!^)(?=[A-Z])")
_SKIPPED_TYPES = frozenset({"application/pgp-signature", "application/pkcs7-signature",
                            "application/x-pkcs7-signature"})
_DAEMONS = frozenset({"mailer-daemon", "mailer_daemon", "postmaster"})
_WESTERN = frozenset({"iso8859-1", "cp1252"})  # codecs.lookup's names


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", _clean(text)).strip()


def _bounded(value: str) -> str:
    return _clean(_redecoded("".join(_LINE_ENDS.split(str(value))))[:HEADER_MAX_CHARS])


def _first(part: Message, name: str) -> str:
    """A part's header, raw (for Content-ID: a part has few headers)."""
    return next((_bounded(value).strip() for key, value in part.raw_items()
                 if key.lower() == name), "")


def _known_charset(match: re.Match[str]) -> str:
    charset = match.group(1) if _codec(match.group(1)) else "windows-1252"
    return f"=?{charset}{match.group(2) or ''}?{match.group(3)}?"


class _Headers:
    """A message's headers that are read here, raw, gathered in one pass over them (a
    lookup of Message's walks all of them, and a message may have 300,000)."""

    def __init__(self, message: Message) -> None:
        self.values: dict[str, list[str]] = {}
        for key, value in message.raw_items():
            values = self.values.setdefault(key.lower(), [])
            if len(values) < VALUES_MAX:
                values.append(_bounded(value))

    def all(self, name: str) -> list[str]:
        return self.values.get(name, [])

    def first(self, name: str) -> str:
        values = self.values.get(name)
        return values[0].strip() if values else ""

    def decoded(self, name: str) -> str:
        """RFC 2047 words decoded, on one line; a word in an unknown charset is read as
        Windows-1252 (the parser would make each of its 8-bit characters a U+FFFD)."""
        value = _WORD_CHARSET.sub(_known_charset, self.first(name))
        try:
            return _one_line(str(_POLICY.header_fetch_parse(name, value)))
        except Exception:  # noqa: BLE001 — an unreadable header reads as its raw text
            return _one_line(value)

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """(display name, lower-cased addr-spec), in order, once each."""
        found: list[tuple[str, str]] = []
        for value in self.all(name):
            try:
                found += [(address.display_name, address.addr_spec)
                          for address in _POLICY.header_fetch_parse(name, value).addresses]
            except Exception:  # noqa: BLE001 — the parser gave up: the addresses by hand
                found += [("", match) for match in _ADDRESS.findall(value)]
        out: dict[str, str] = {}
        for display, spec in found:
            spec = _one_line(spec).lower()
            if "@" not in spec:
                # An address the parser could not split ("Anna anna@example.com").
                match = _ADDRESS.search(spec)
                spec = match.group(0) if match else ""
            if spec and " " not in spec and len(spec) <= 254 and spec not in out:
                out[spec] = _one_line(display)
        return [(display, spec) for spec, display in list(out.items())[:ADDRESSES_MAX]]

    def specs(self, name: str) -> list[str]:
        return [spec for _, spec in self.addresses(name)]


def _ids(value: str) -> list[str]:
    ids = _ANGLE_ID.findall(value) or [token.strip("<>,") for token in value.split()
                                       if "@" in token]
    ids = [i[:998] for i in dict.fromkeys(_clean(i) for i in ids) if i]
    # A long References keeps its root and the latest: what threading looks at.
    return ids if len(ids) <= IDS_MAX else ids[:1] + ids[-(IDS_MAX - 1):]


def _date(value: str) -> datetime | None:
    try:
        parsed = utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _codec(charset: str) -> str | None:
    try:
        return codecs.lookup(charset).name
    except (LookupError, TypeError, ValueError):
        return None


def decode(data: bytes, charset: str | None) -> tuple[str, str]:
    """(text, warning) of a text part's bytes in its declared charset. Bytes that do not fit
    it are read as UTF-8, else Windows-1252, else Latin-1, which reads anything; "us-ascii"
    with 8-bit bytes is nearly always UTF-8, and "iso-8859-1" means Windows-1252 in practice
    (as browsers read it: Outlook's curly quotes)."""
    codec = _codec(charset) if charset else None
    warning = f"unknown charset {charset[:40]!r}" if charset and codec is None else ""
    if codec == "ascii" or codec is None:
        order = ["utf-8", "cp1252"]
    elif codec in _WESTERN:
        order = ["cp1252"]
    else:
        order = [codec, "utf-8", "cp1252"]
    for name in order:
        try:
            return data.decode(name), warning
        except (UnicodeDecodeError, LookupError):
            if name == codec:
                warning = f"text not in its charset {charset[:40]!r}" if charset else ""
    return data.decode("latin-1"), warning


@dataclass
class _Segment:
    """A stretch of the body: its plain text, its HTML, or (an alternative) both."""

    plain: str | None = None
    html: str | None = None


class _Walk:
    def __init__(self) -> None:
        self.parts = 0
        self.warnings: list[str] = []

    def warn(self, warning: str) -> None:
        if warning and warning not in self.warnings:
            self.warnings.append(warning)

    def defects(self, part: Message) -> None:
        for defect in getattr(part, "defects", ()):
            words = _DEFECT_WORDS.sub(" ", type(defect).__name__.removesuffix("Defect"))
            self.warn(f"malformed MIME: {words.lower()}")

    def part(self, part: Message, depth: int) -> tuple[list[_Segment], list[MailFile]]:
        self.parts += 1
        if self.parts > PARTS_MAX:
            self.warn(f"more than {PARTS_MAX} MIME parts: the rest ignored")
            return [], []
        if depth > DEPTH_MAX:
            self.warn(f"MIME parts nested deeper than {DEPTH_MAX}: ignored")
            return [], []
        self.defects(part)
        ctype = part.get_content_type()
        payload = part.get_payload()
        if isinstance(payload, list):
            children = [child for child in payload if isinstance(child, Message)]
            if ctype in ("message/rfc822", "message/global"):
                return self.forwarded(children[0], depth + 1) if children else ([], [])
            if ctype == "multipart/alternative":
                return self.alternative(children, depth)
            if ctype == "multipart/report":
                # The status and the returned message are for machines (flufl.bounce reads
                # them); the first part is the report's text for people.
                return self.part(children[0], depth + 1) if children else ([], [])
            if part.get_content_maintype() == "message":
                return [], []  # message/delivery-status and the like: header blocks
            segments: list[_Segment] = []
            files: list[MailFile] = []
            for child in children:
                child_segments, child_files = self.part(child, depth + 1)
                segments += child_segments
                files += child_files
            return segments, files
        return self.leaf(part, ctype)

    def leaf(self, part: Message, ctype: str) -> tuple[list[_Segment], list[MailFile]]:
        disposition = part.get_content_disposition()
        name = _filename(part)
        maintype = part.get_content_maintype()
        if maintype in ("multipart", "message"):
            # A multipart whose boundary never came: what it holds is shown as text.
            self.warn(f"malformed MIME: {ctype} without its parts, kept as text")
            return [_Segment(plain=self.text(part))], []
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not name:
            text = self.text(part)
            if ctype == "text/html":
                return [_Segment(html=text)], []
            if _param(part, "format") == "flowed":
                text = quoting.unflow(text, delsp=_param(part, "delsp") == "yes")
            return [_Segment(plain=text)], []
        if ctype in _SKIPPED_TYPES:
            return [], []  # a signature of the mail, not something its sender attached
        content = _payload(part)
        content_id = _first(part, "content-id").strip().strip("<>").strip()[:250]
        inline = disposition == "inline" or (disposition is None and bool(content_id))
        return [], [MailFile(name=_safe_name(name, ctype), content_type=ctype,
                             content=content, content_id=_clean(content_id), inline=inline)]

    def text(self, part: Message) -> str:
        raw = part.get_payload(decode=True)
        data = raw if isinstance(raw, bytes) else str(raw or "").encode("utf-8", "replace")
        text, warning = decode(data, part.get_content_charset())
        self.warn(warning)
        return _clean(text)

    def alternative(self, children: list[Message],
                    depth: int) -> tuple[list[_Segment], list[MailFile]]:
        """One of the versions for the text (the last plain one, as RFC 2046 orders them
        best last), one for the HTML; the files of all (an invitation's text/calendar)."""
        options = [self.part(child, depth + 1) for child in children]
        plain = next((segments for segments, _ in reversed(options)
                      if any((s.plain or "").strip() for s in segments)), None)
        rich = next((segments for segments, _ in reversed(options)
                     if any(s.html is not None for s in segments)), None)
        files = [file for _, option_files in options for file in option_files]
        if plain is None and rich is None:
            return [], files
        text = "\n\n".join(self.segment_text(s) for s in (plain or rich or []))
        markup = None if rich is None else "".join(self.segment_html(s) for s in rich)
        return [_Segment(plain=text, html=markup)], files

    def forwarded(self, inner: Message, depth: int) -> tuple[list[_Segment], list[MailFile]]:
        """An attached message: its text in the body under the header lines a forward shows
        (which keeps it out of the quoted history), its attachments among the files."""
        self.defects(inner)
        segments, files = self.part(inner, depth)
        headers = _Headers(inner)
        fields = [(label, headers.decoded(label.lower()))
                  for label in ("From", "Date", "Subject", "To")]
        shown = [(label, value) for label, value in fields if value]
        head = "---------- Forwarded message ---------\n" + "".join(
            f"{label}: {value}\n" for label, value in shown)
        body = "\n\n".join(self.segment_text(s) for s in segments)
        markup = None
        if any(s.html is not None for s in segments):
            markup = ("<p>---------- Forwarded message ---------<br>" + "".join(
                f"{label}: {html.escape(value)}<br>" for label, value in shown) + "</p>"
                + "".join(self.segment_html(s) for s in segments))
        return [_Segment(plain=f"{head}\n{body}", html=markup)], files

    def segment_text(self, segment: _Segment) -> str:
        if (segment.plain or "").strip() or segment.html is None:
            return segment.plain or ""
        markup = self.bounded(segment.html)
        if html_text.too_deep(markup):
            self.warn("HTML nested too deeply: its text kept without structure")
            return html_text.tags_stripped(markup)
        return html_text.to_text(markup)

    def segment_html(self, segment: _Segment) -> str:
        if segment.html is not None:
            return segment.html
        return "<p>" + html.escape(segment.plain or "").replace("\n", "<br>") + "</p>"

    def bounded(self, markup: str) -> str:
        if len(markup) > HTML_MAX_CHARS:
            self.warn(f"HTML longer than {HTML_MAX_CHARS} characters: cut")
            return markup[:HTML_MAX_CHARS]
        return markup


def _payload(part: Message) -> bytes:
    raw = part.get_payload(decode=True)
    if isinstance(raw, bytes):
        return raw
    return str(raw or "").encode("utf-8", "surrogateescape")


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:  # noqa: BLE001 — a broken RFC 2231 parameter: no name then
        return ""
    if "=?" in name:
        # Outlook and others put RFC 2047 words in the parameter, against RFC 2231.
        try:
            name = str(make_header(decode_header(name)))
        except Exception:  # noqa: BLE001, S110 — the name as written then
            pass
    return name


def _safe_name(name: str, ctype: str) -> str:
    """A name to show and store: no path, no control or format characters (a right-to-left
    override makes "exe.pdf" of "fdp.exe"), no characters Windows refuses, not too long."""
    name = unicodedata.normalize("NFC", _clean(name)).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if unicodedata.category(char) not in ("Cc", "Cf"))
    name = re.sub(r'[<>:"|?*]', "", name).strip().strip(".").strip()
    if len(name) > NAME_MAX:
        _, dot, tail = name.rpartition(".")
        keep = dot + tail if dot and len(tail) <= 10 else ""
        name = name[:NAME_MAX - len(keep)].rstrip() + keep
    if name:
        return name
    maintype = ctype.split("/")[0]
    stem = maintype if maintype in ("image", "audio", "video") else "attachment"
    if ctype == "application/octet-stream":
        return stem
    return stem + (mimetypes.guess_extension(ctype) or "")


def _param(part: Message, name: str, header: str = "content-type") -> str:
    value = part.get_param(name, header=header)
    return utils.collapse_rfc2231_value(value).strip().lower() if value else ""


def _automatic(headers: _Headers, from_address: str, report_type: str | None) -> str:
    """Why this mail is a machine's and must start nothing nor be answered (RFC 3834), or ""."""
    if report_type is not None:
        if report_type == "delivery-status":
            return "delivery status notification"
        return f"report ({report_type or 'unknown type'})"
    auto_submitted = headers.first("auto-submitted").lower()
    keyword = re.split(r"[\s;(]", auto_submitted, maxsplit=1)[0]
    if auto_submitted and keyword != "no":
        return f"Auto-Submitted: {auto_submitted[:80]}"
    for name in ("X-Autoreply", "X-Autorespond"):
        value = headers.first(name.lower())
        if value and value.lower() not in ("no", "false", "0"):
            return f"{name}: {value[:80]}"
    precedence = headers.first("precedence").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    list_id = headers.first("list-id")
    if list_id:
        return f"List-Id: {_one_line(list_id)[:120]}"
    if from_address.partition("@")[0] in _DAEMONS:
        return f"From: {from_address}"
    if headers.first("return-path").replace(" ", "") == "<>":
        return "Return-Path: <> (no address for replies)"
    return ""


def _bounced(raw: bytes, walk: _Walk) -> list[str]:
    """The permanently failed recipients a bounce names. flufl.bounce reads the report's
    first BOUNCE_SCAN_BYTES: the notice and the status come first, the returned message
    (maybe large) last, and its heuristic detectors take seconds per megabyte."""
    try:
        message = BytesParser(policy=_POLICY).parsebytes(raw[:BOUNCE_SCAN_BYTES])
        for part in message.walk():
            blocks = part.get_payload()
            if part.get_content_type() == "message/delivery-status" and isinstance(
                    blocks, list) and len(blocks) > REPORT_BLOCKS_MAX:
                # Each block's headers are read one by one: 20,000 take seconds.
                part.set_payload(blocks[:REPORT_BLOCKS_MAX])
                walk.warn(f"delivery report: only its first {REPORT_BLOCKS_MAX} blocks read")
        found = scan_message(message)
    except Exception:  # noqa: BLE001 — a detector choked on the report: nothing read from it
        walk.warn("bounce report not readable")
        return []
    addresses = {address.decode("ascii", "replace").strip().lower() for address in found}
    return sorted(a for a in addresses if "@" in a and len(a) <= 254)


def parse(raw: bytes, *, authserv_ids: Collection[str] = ()) -> ParsedMail:
    """Read a raw message. `authserv_ids`: the receiving servers' ids whose
    Authentication-Results count (none given: the topmost header counts)."""
    try:
        return _parse(bytes(raw), authserv_ids)
    except Exception as error:  # noqa: BLE001 — the last line: never a crash, the bytes as text
        text, _ = decode(bytes(raw), None)
        return ParsedMail(
            message_id="", in_reply_to=[], references=[], subject="", from_address="",
            from_name="", to=[], cc=[], reply_to=[], date=None, text=_clean(text).strip(),
            quoted="", html="", files=[], automatic="", bounced=[], is_bounce=False,
            authentication=Authentication(False, False, ""),
            warnings=[f"malformed MIME: not readable ({type(error).__name__}), kept as text"])


def _parse(raw: bytes, authserv_ids: Collection[str]) -> ParsedMail:
    walk = _Walk()
    try:
        message = BytesParser(policy=_POLICY).parsebytes(raw)
    except RecursionError:
        # Thousands of nested parts exhaust the parser's stack: the headers, and the body
        # as one text.
        walk.warn("malformed MIME: parts nested too deeply, the body kept as text")
        message = BytesParser(policy=_POLICY).parsebytes(raw, headersonly=True)
    headers = _Headers(message)
    senders = headers.addresses("from")
    from_name, from_address = senders[0] if senders else ("", "")
    subject = headers.decoded("subject")

    segments, files = walk.part(message, 0)
    body = "\n\n".join(t for t in (walk.segment_text(s) for s in segments) if t.strip())
    text, quoted = quoting.split(body, forward=quoting.is_forward(subject))
    markup = ""
    if any(s.html is not None for s in segments):
        joined = walk.bounded("".join(walk.segment_html(s) for s in segments))
        if html_text.too_deep(joined):
            walk.warn("HTML nested too deeply: not shown")
        else:
            markup = html_text.sanitise(joined).strip()

    report_type = None
    if message.get_content_type() == "multipart/report":
        report_type = _param(message, "report-type")
    automatic = _automatic(headers, from_address, report_type)
    # flufl.bounce's heuristics would read a customer's pasted "550 user unknown" as a
    # bounce: only a report or the mail system's own mail is asked.
    daemon = from_address.partition("@")[0] in _DAEMONS
    is_dsn = report_type == "delivery-status"
    bounced = _bounced(raw, walk) if is_dsn or daemon else []
    checked, passed, summary = authresults.evaluate(
        headers.all("authentication-results"), from_address.rpartition("@")[2], authserv_ids)
    return ParsedMail(
        message_id=normalise_message_id(headers.first("message-id")),
        in_reply_to=_ids(" ".join(headers.all("in-reply-to"))),
        references=_ids(" ".join(headers.all("references"))),
        subject=subject,
        from_address=from_address,
        from_name=from_name,
        to=headers.specs("to"),
        cc=headers.specs("cc"),
        reply_to=headers.specs("reply-to"),
        date=_date(headers.first("date")),
        text=text,
        quoted=quoted,
        html=markup,
        files=files,
        automatic=automatic,
        bounced=bounced,
        is_bounce=is_dsn or bool(bounced),
        authentication=Authentication(checked, passed, summary),
        warnings=walk.warnings,
    )
