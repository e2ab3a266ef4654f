"""The embedded default's e-mail (`EMAIL_URL` unset or `consolemail://`): each message printed
to the console as a person reads it — headers, the text body, and one line per attachment.

Django's console backend prints the whole MIME message, so an invoice e-mail fills the
terminal of `make run` with its PDF in base64 and hides the product's own lines."""

from __future__ import annotations

from email.header import decode_header, make_header
from email.message import EmailMessage as MimeMessage
from typing import Any

from django.core.mail.backends.console import EmailBackend as DjangoConsoleBackend
from django.core.mail.message import EmailMessage

# The threading and loop headers too (docs/email.md): how a reply threads shows on the console.
SHOWN_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID",
                 "In-Reply-To", "References", "Auto-Submitted")


class EmailBackend(DjangoConsoleBackend):
    def write_message(self, message: EmailMessage) -> None:  # type: ignore[override]
        mime: Any = message.message()
        # Headers as a person reads them: "=?utf-8?q?…?=" decoded.
        lines = [f"{name}: {make_header(decode_header(str(mime[name])))}"
                 for name in SHOWN_HEADERS if mime[name]]
        lines.append("")
        lines.append(_text_body(mime))
        for part in mime.walk():
            if part.get_content_disposition() == "attachment":
                size = len(part.get_payload(decode=True) or b"")
                lines.append(f"[attachment: {part.get_filename()} ({part.get_content_type()}, "
                             f"{size:,} bytes)]")
        assert self.stream is not None
        self.stream.write("\n".join(lines) + "\n" + "-" * 79 + "\n")


def _text_body(mime: MimeMessage) -> str:
    for part in mime.walk():
        if part.get_content_type() == "text/plain" and not part.get_content_disposition():
            payload = part.get_payload(decode=True) or b""
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return "(no text part)"
