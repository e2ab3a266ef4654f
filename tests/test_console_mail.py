"""`make run` prints e-mail to its console readably: the text and each attachment's name, not
the MIME message with the attachment in base64."""

from __future__ import annotations

import base64
import io

from django.core.mail import EmailMessage

from plug2support.lib.console_mail import EmailBackend


def test_the_console_shows_the_text_and_names_the_attachment_without_its_bytes() -> None:
    stream = io.StringIO()
    pdf = b"%PDF-1.4 an invoice " * 200
    message = EmailMessage("Invoice 2026-0001 — paid", "Hello,\nyour invoice is attached.\n",
                           "billing@plug2support.test", ["owner@demo.example"])
    message.attach("invoice-2026-0001.pdf", pdf, "application/pdf")
    assert EmailBackend(stream=stream).send_messages([message]) == 1
    printed = stream.getvalue()
    assert "Subject: Invoice 2026-0001 — paid" in printed  # decoded, not =?utf-8?q?…
    assert "To: owner@demo.example" in printed
    assert "your invoice is attached." in printed
    assert "[attachment: invoice-2026-0001.pdf (application/pdf, 4,000 bytes)]" in printed
    assert base64.b64encode(pdf)[:40].decode() not in printed
