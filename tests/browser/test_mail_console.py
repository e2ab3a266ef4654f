"""An e-mail conversation in the console (F5, F6): a mail arrives through the SMTP gateway,
the operator reads it (from, subject, the folded quote), answers with a Cc, and the answer is
caught by the test's SMTP server."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from playwright.sync_api import Browser, expect

from plug2support.mail.addresses import reply_address
from plug2support.mail.gateway import start_gateway
from plug2support.mail.support import default_address

from ..conftest import Inbox, Tenant, body_of, free_port, make_tenant
from .conftest import login, screenshot


def test_a_mail_is_answered_from_the_console_and_the_answer_leaves_by_mail(
        browser: Browser, live: str, smtp: Inbox) -> None:
    tenant: Tenant = make_tenant("Maple")
    in_port = free_port()
    gateway = start_gateway("127.0.0.1", in_port)
    try:
        alice = login(browser, live, tenant.operators[0].email)
        expect(alice.locator("#live")).to_have_text("live")

        support = default_address(tenant.company)
        mail = EmailMessage()
        mail["From"] = "Jane Doe <jane@customer.example>"
        mail["To"] = support.address
        mail["Cc"] = "Bo Boss <boss@customer.example>"
        mail["Subject"] = "Grinder making a noise"
        mail["Message-ID"] = make_msgid(domain="customer.example")
        mail.set_content("It grinds loudly since Monday.\n\nOn Mon, Shop wrote:\n"
                         "> Thanks for your order\n> Maple")
        with smtplib.SMTP("127.0.0.1", in_port) as client:
            client.send_message(mail)

        item = alice.locator(".conv", has_text="Grinder making a noise")
        expect(item).to_contain_text("✉")
        item.click()
        message = alice.locator("#thread .msg.theirs").last
        expect(message).to_contain_text("From Jane Doe <jane@customer.example>")
        expect(message.locator("p")).to_have_text("It grinds loudly since Monday.")
        quoted = message.locator("details.mail-quoted")
        expect(quoted.locator("pre")).to_be_hidden()
        quoted.locator("summary").click()
        expect(quoted.locator("pre")).to_contain_text("Thanks for your order")
        expect(alice.locator("#pane-sub")).to_contain_text("Grinder making a noise")

        expect(alice.locator("#email-options")).to_be_visible()
        expect(alice.locator("#email-subject")).to_be_hidden()  # the conversation has one
        # Reply to all: the customer's Cc is the reply's, unless the operator changes it.
        expect(alice.locator("#email-cc")).to_have_value("boss@customer.example")
        alice.fill("#email-cc", "boss@customer.example, orders@customer.example")
        alice.fill("#reply", "A new burr is on its way.")
        alice.press("#reply", "Enter")
        expect(alice.locator("#thread .msg.mine p").last).to_have_text("A new burr is on its way.")
        expect(alice.locator("#thread .msg.mine .mail-head").last).to_contain_text(
            "E-mailed to jane@customer.example · Cc boss@customer.example, "
            "orders@customer.example")
        screenshot(alice, "mail-console")

        assert smtp.arrived.wait(30), "the reply never reached the outgoing server"
        [sent] = smtp.messages
        assert sent["To"] == "jane@customer.example"
        assert sent["Cc"] == "boss@customer.example, orders@customer.example"
        assert sent["Subject"].startswith("Re: Grinder making a noise [#")
        assert sent["In-Reply-To"] == mail["Message-ID"]
        assert sent["Reply-To"] == reply_address(int(sent["Subject"].rsplit("#", 1)[1][:-1]))
        assert "A new burr is on its way." in body_of(sent)

        # The boss answers in the thread: the message is named after who wrote it.
        answer = EmailMessage()
        answer["From"] = "Bo Boss <boss@customer.example>"
        answer["To"] = sent["Reply-To"]
        answer["Subject"] = f"Re: {sent['Subject']}"
        answer["In-Reply-To"] = sent["Message-ID"]
        answer.set_content("Please send the invoice to me.")
        with smtplib.SMTP("127.0.0.1", in_port) as client:
            client.send_message(answer)
        latest = alice.locator("#thread .msg.theirs").last
        expect(latest.locator("p")).to_have_text("Please send the invoice to me.")
        expect(latest.locator(".who")).to_have_text("Bo Boss")

    finally:
        gateway.stop()
