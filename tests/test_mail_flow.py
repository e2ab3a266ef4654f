"""The e-mail channel end to end (F1–F3, F6, H3, H6): real mail through the SMTP gateway
(`smtplib` talking to the server the test starts), the team's replies caught by a real SMTP
server (aiosmtpd) and read header by header, the customer's answers threaded back."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage, Message
from email.utils import make_msgid, parseaddr
from typing import Any

import pytest
from django.conf import settings

from plug2support.billing.access import block_changed
from plug2support.billing.models import Subscription
from plug2support.contacts.models import Contact
from plug2support.conversations.actions.messages import do_post_operator_message
from plug2support.conversations.models import Channel, Conversation, Event, Sender, Stage
from plug2support.mail.addresses import reply_address
from plug2support.mail.gateway import Gateway, start_gateway
from plug2support.mail.models import InboundMail, InboundStatus, OutboundMail, OutboundStatus
from plug2support.mail.processing import release_held
from plug2support.mail.support import default_address

from .conftest import Inbox, Tenant, body_of, free_port, make_tenant


@pytest.fixture
def gateway(transactional_db: Any) -> Iterator[tuple[str, int]]:
    port = free_port()
    server: Gateway = start_gateway("127.0.0.1", port)
    yield "127.0.0.1", port
    server.stop()


@pytest.fixture
def maple(transactional_db: Any) -> Tenant:
    return make_tenant("Maple")


@pytest.fixture
def birch(transactional_db: Any) -> Tenant:
    return make_tenant("Birch")


def mail(to: str, *, subject: str = "My grinder is broken", body: str = "It stopped.",
         sender: str = "Jane Doe <jane@customer.example>", **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="customer.example")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def send(gateway: tuple[str, int], message: EmailMessage, to: list[str] | None = None) -> None:
    with smtplib.SMTP(*gateway) as client:
        client.send_message(message, to_addrs=to)


def only(inbox: Inbox) -> Message:
    assert len(inbox.messages) == 1, [m["Subject"] for m in inbox.messages]
    message = inbox.messages.pop()
    return message


def ids(header: str | None) -> list[str]:
    return [part.strip("<>") for part in (header or "").split()]


def test_a_three_round_thread_stays_one_conversation_with_every_header_right(
        gateway: tuple[str, int], maple: Tenant, smtp: Inbox) -> None:
    support = default_address(maple.company)
    support.own_address = "support@maple.example"
    support.save()
    first = mail(support.address)
    send(gateway, first)

    conversation = Conversation.objects.get()
    assert conversation.company == maple.company and conversation.channel == Channel.EMAIL
    assert conversation.subject == "My grinder is broken" and conversation.stage == Stage.NEW
    [event] = conversation.events.all()
    assert event.sender == Sender.VISITOR and event.body == "It stopped."
    assert event.email is not None
    assert event.email["from"] == {"address": "jane@customer.example", "name": "Jane Doe"}
    contact = Contact.objects.get(company=maple.company)
    assert contact.email == "jane@customer.example" and contact.name == "Jane Doe"

    alice = maple.membership(maple.operators[0])
    do_post_operator_message(alice, conversation, client_id="r1", body="Which model is it?")
    reply = only(smtp)
    assert reply["To"] == "jane@customer.example"
    assert parseaddr(reply["From"]) == (f"{maple.operators[0].name} at Maple",
                                        "support@maple.example")
    assert reply["Reply-To"] == reply_address(conversation.pk)
    assert reply["Subject"] == f"Re: My grinder is broken [#{conversation.pk}]"
    ours = ids(reply["Message-ID"])[0]
    assert ours.endswith("@" + settings.INBOUND_EMAIL_DOMAIN)
    assert ids(reply["In-Reply-To"]) == [first["Message-ID"].strip("<>")]
    assert ids(reply["References"]) == [first["Message-ID"].strip("<>")]
    assert reply["Auto-Submitted"] is None  # a person wrote it
    assert "Which model is it?" in body_of(reply) and "> It stopped." in body_of(reply)
    assert "Which model is it?" in body_of(reply, "html")
    conversation.refresh_from_db()
    assert conversation.stage == Stage.WAITING_ON_USER

    second = mail(reply_address(conversation.pk), subject=f"Re: {reply['Subject']}",
                  body="The Barista Pro.\n\nOn Tue, Alice wrote:\n> Which model is it?",
                  In_Reply_To=reply["Message-ID"],
                  References=f"{first['Message-ID']} {reply['Message-ID']}")
    send(gateway, second)
    assert Conversation.objects.count() == 1
    conversation.refresh_from_db()
    assert conversation.stage == Stage.NEEDS_RESPONSE
    latest = conversation.events.filter(sender=Sender.VISITOR).last()
    assert latest is not None and latest.body == "The Barista Pro."
    assert latest.email is not None and "Which model is it?" in latest.email["quoted"]

    do_post_operator_message(alice, conversation, client_id="r2", body="A new burr is on its way.")
    again = only(smtp)
    assert ids(again["In-Reply-To"]) == [second["Message-ID"].strip("<>")]
    assert ids(again["References"]) == [first["Message-ID"].strip("<>"), ours,
                                        second["Message-ID"].strip("<>")]
    assert again["Subject"] == f"Re: My grinder is broken [#{conversation.pk}]"
    assert OutboundMail.objects.filter(status=OutboundStatus.SENT).count() == 2


def test_a_reply_from_a_phone_that_drops_references_still_threads_by_its_address(
        gateway: tuple[str, int], maple: Tenant, smtp: Inbox) -> None:
    support = default_address(maple.company)
    send(gateway, mail(support.address))
    conversation = Conversation.objects.get()
    do_post_operator_message(maple.membership(maple.operators[0]), conversation,
                             client_id="r1", body="Which model?")
    only(smtp)
    send(gateway, mail(reply_address(conversation.pk), subject="model",
                       body="Barista Pro\n\nSent from my iPhone"))
    assert Conversation.objects.count() == 1
    assert conversation.events.filter(sender=Sender.VISITOR).count() == 2


def test_the_same_subject_from_someone_else_is_a_new_conversation(
        gateway: tuple[str, int], maple: Tenant) -> None:
    support = default_address(maple.company)
    send(gateway, mail(support.address))
    first = Conversation.objects.get()
    send(gateway, mail(support.address, subject=f"Re: My grinder is broken [#{first.pk}]",
                       sender="mallory@elsewhere.example"))
    assert Conversation.objects.count() == 2  # the tag threads only the customer's own mail


def test_automatic_mail_creates_nothing_and_gets_no_answer(
        gateway: tuple[str, int], maple: Tenant, smtp: Inbox) -> None:
    support = default_address(maple.company)
    send(gateway, mail(support.address))
    conversation = Conversation.objects.get()
    do_post_operator_message(maple.membership(maple.operators[0]), conversation,
                             client_id="r1", body="Which model?")
    only(smtp)
    # The customer's auto-responder answers our reply, twice: nothing is stored in the
    # conversation, nothing is sent back, no new conversation opens.
    for n in range(2):
        send(gateway, mail(reply_address(conversation.pk), subject="Out of office",
                           body=f"I am away ({n}).", Auto_Submitted="auto-replied"))
    send(gateway, mail(support.address, subject="Newsletter", Precedence="bulk"))
    send(gateway, mail(support.address, subject="List", List_Id="<news.example>"))
    send(gateway, mail(support.address, subject="Hi",
                       sender="MAILER-DAEMON@customer.example"))
    assert Conversation.objects.count() == 1
    assert conversation.events.filter(sender=Sender.VISITOR).count() == 1
    assert smtp.messages == []
    assert InboundMail.objects.filter(status=InboundStatus.IGNORED).count() == 5


def test_a_redelivered_message_is_stored_once(gateway: tuple[str, int], maple: Tenant) -> None:
    support = default_address(maple.company)
    message = mail(support.address)
    send(gateway, message)
    send(gateway, message)
    assert InboundMail.objects.count() == 1
    assert Event.objects.filter(sender=Sender.VISITOR).count() == 1


def dsn(to: str, failed: str, returned_id: str = "") -> bytes:
    """A delivery status notification (RFC 3464) as Postfix writes one, returning the headers
    of the message that failed."""
    returned = (f"\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
                f"Message-ID: <{returned_id}>\r\nTo: {failed}\r\n") if returned_id else ""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {make_msgid(domain='mx.customer.example')}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
        "This is the mail system. Your message could not be delivered.\r\n"
        "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.example\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n{returned}"
        "\r\n--B--\r\n").encode()


def test_a_bounce_of_our_mail_marks_the_contact_and_stops_sending(
        gateway: tuple[str, int], maple: Tenant, smtp: Inbox) -> None:
    support = default_address(maple.company)
    send(gateway, mail(support.address))
    conversation = Conversation.objects.get()
    alice = maple.membership(maple.operators[0])
    do_post_operator_message(alice, conversation, client_id="r1", body="Which model?")
    ours = ids(only(smtp)["Message-ID"])[0]
    with smtplib.SMTP(*gateway) as client:
        client.sendmail("", [support.address], dsn(support.address, "jane@customer.example",
                                                   ours))
    contact = Contact.objects.get(company=maple.company)
    assert contact.email_bouncing_since is not None
    assert InboundMail.objects.filter(status=InboundStatus.BOUNCE).count() == 1
    assert Conversation.objects.count() == 1
    posted = do_post_operator_message(alice, conversation, client_id="r2", body="Hello?")
    assert smtp.messages == []
    assert OutboundMail.objects.get(event=posted.event).status == OutboundStatus.SUPPRESSED
    # The team sees that it did not leave, on the message itself.
    stored = Event.objects.get(pk=posted.event.pk)
    assert stored.email is not None and "bounces" in stored.email["not_sent"]


def test_a_forged_bounce_about_no_mail_of_ours_changes_nothing(
        gateway: tuple[str, int], maple: Tenant, smtp: Inbox) -> None:
    support = default_address(maple.company)
    send(gateway, mail(support.address))
    conversation = Conversation.objects.get()
    with smtplib.SMTP(*gateway) as client:
        client.sendmail("", [support.address], dsn(support.address, "jane@customer.example"))
        client.sendmail("", [support.address], dsn(
            support.address, "jane@customer.example",
            f"made-up@{settings.INBOUND_EMAIL_DOMAIN}"))
    assert Contact.objects.get(company=maple.company).email_bouncing_since is None
    do_post_operator_message(maple.membership(maple.operators[0]), conversation,
                             client_id="r1", body="Still here")
    assert only(smtp)["To"] == "jane@customer.example"


def test_the_gateway_refuses_other_domains_unknown_addresses_and_oversize_mail(
        gateway: tuple[str, int], maple: Tenant, settings: Any) -> None:
    support = default_address(maple.company)
    with smtplib.SMTP(*gateway) as client:
        client.ehlo()
        client.mail("jane@customer.example")
        code, text = client.rcpt("someone@gmail.com")
        assert code == 550 and b"Relaying denied" in text
        code, text = client.rcpt(f"nobody-here@{settings.INBOUND_EMAIL_DOMAIN}")
        assert code == 550
        code, text = client.rcpt(f"reply+1-{'0' * 20}@{settings.INBOUND_EMAIL_DOMAIN}")
        assert code == 550  # a forged reply address
        code, _ = client.rcpt(support.address)
        assert code == 250
    big = mail(support.address, body="x" * (settings.MAIL_MAX_BYTES + 10))
    with pytest.raises(smtplib.SMTPException) as refused:
        send(gateway, big)
    assert "552" in str(refused.value) and "at most" in str(refused.value)
    assert not InboundMail.objects.exists()


def test_mail_for_one_company_never_reaches_another(
        gateway: tuple[str, int], maple: Tenant, birch: Tenant) -> None:
    maple_address = default_address(maple.company)
    birch_address = default_address(birch.company)
    send(gateway, mail(maple_address.address))
    send(gateway, mail(birch_address.address, sender="bob@other.example"))
    assert Conversation.objects.get(company=maple.company).visitor.email == \
        "jane@customer.example"
    assert Conversation.objects.get(company=birch.company).visitor.email == "bob@other.example"
    # A Birch reply address written from Maple's customer goes to Birch's conversation
    # only when its signature is Birch's: the id alone is not enough.
    birch_conversation = Conversation.objects.get(company=birch.company)
    forged = f"reply+{birch_conversation.pk}-{'a' * 20}@{settings.INBOUND_EMAIL_DOMAIN}"
    with smtplib.SMTP(*gateway) as client, pytest.raises(smtplib.SMTPRecipientsRefused):
        client.send_message(mail(forged), to_addrs=[forged])


def test_a_blocked_company_loses_no_mail_and_sends_none(
        gateway: tuple[str, int], maple: Tenant, smtp: Inbox) -> None:
    support = default_address(maple.company)
    Subscription.objects.filter(company=maple.company).update(payment_blocked=True)
    block_changed(maple.company.pk)
    send(gateway, mail(support.address))
    held = InboundMail.objects.get()
    assert held.status == InboundStatus.HELD and not Conversation.objects.exists()
    assert release_held(held.received_at) == {"released": 0}  # still blocked
    Subscription.objects.filter(company=maple.company).update(payment_blocked=False)
    block_changed(maple.company.pk)
    assert release_held(held.received_at) == {"released": 1}
    conversation = Conversation.objects.get()
    assert conversation.events.get().body == "It stopped."
    assert smtp.messages == []


def test_a_sender_opening_too_many_conversations_lands_in_suspended(
        gateway: tuple[str, int], maple: Tenant, settings: Any) -> None:
    settings.MAIL_NEW_CONVERSATIONS_PER_SENDER_HOUR = 2
    support = default_address(maple.company)
    for n in range(3):
        send(gateway, mail(support.address, subject=f"Question {n}"))
    stages = list(Conversation.objects.order_by("pk").values_list("stage", flat=True))
    assert stages == [Stage.NEW, Stage.NEW, Stage.SUSPENDED]


def test_an_operator_starts_an_email_conversation_that_continues_both_ways(
        gateway: tuple[str, int], maple: Tenant, smtp: Inbox) -> None:
    from plug2support.conversations.actions.started import do_start_email_conversation

    alice = maple.membership(maple.operators[0])
    posted = do_start_email_conversation(alice, maple.widget, email="sam@customer.example",
                                         client_id="s1", body="Your order has shipped.")
    sent = only(smtp)
    assert sent["To"] == "sam@customer.example"
    conversation = Conversation.objects.get(pk=posted.event.conversation_id)
    send(gateway, mail(support_reply := reply_address(conversation.pk),
                       sender="sam@customer.example", subject=f"Re: {sent['Subject']}",
                       body="Thanks!", In_Reply_To=sent["Message-ID"]))
    assert support_reply
    assert Conversation.objects.count() == 1
    assert conversation.events.filter(sender=Sender.VISITOR).get().body == "Thanks!"


@pytest.fixture
def media(settings: Any, tmp_path: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "media")}}}


def test_files_come_in_through_the_attachment_checks_and_go_out_with_the_reply(
        gateway: tuple[str, int], maple: Tenant, smtp: Inbox, media: None) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from plug2support.attachments.actions import do_upload_for_member
    from plug2support.attachments.models import Attachment

    from .test_attachments import png_bytes

    support = default_address(maple.company)
    message = mail(support.address, body="Photo attached.")
    message.add_attachment(png_bytes(), maintype="image", subtype="png", filename="noise.png")
    message.add_attachment(b"MZ\x90\x00 an executable", maintype="application",
                           subtype="octet-stream", filename="setup.exe")
    send(gateway, message)
    [event] = Event.objects.filter(sender=Sender.VISITOR)
    [kept] = Attachment.objects.filter(event=event)
    assert kept.name == "noise.png" and kept.is_image and kept.company == maple.company
    assert event.email is not None and "setup.exe" in event.email["skipped_files"][0]

    alice = maple.membership(maple.operators[0])
    upload = do_upload_for_member(alice, SimpleUploadedFile("fixed.png", png_bytes()))
    do_post_operator_message(alice, event.conversation, client_id="r1", body="Fixed, see.",
                             attachments=[upload.pk])
    reply = only(smtp)
    [attached] = [p for p in reply.walk() if p.get_filename()]
    assert attached.get_filename() == "fixed.png"
    assert attached.get_payload(decode=True) == png_bytes()


def test_notes_never_leave_and_cc_and_subject_are_the_operators(
        gateway: tuple[str, int], maple: Tenant, smtp: Inbox) -> None:
    from plug2support.conversations.actions.core import ConversationError
    from plug2support.conversations.actions.teamwork import do_add_note

    support = default_address(maple.company)
    send(gateway, mail(support.address))
    conversation = Conversation.objects.get()
    alice = maple.membership(maple.operators[0])
    do_add_note(alice, conversation, client_id="n1", body="Customer since 2019")
    assert smtp.messages == []
    with pytest.raises(ConversationError) as refused:
        do_post_operator_message(alice, conversation, client_id="r0", body="Hi",
                                 email={"cc": ["not an address"]})
    assert refused.value.code == "invalid_cc"
    assert not conversation.events.filter(client_id="r0").exists()
    do_post_operator_message(alice, conversation, client_id="r1", body="Copying orders.",
                             email={"cc": ["Orders@Maple.example"]})
    reply = only(smtp)
    assert reply["Cc"] == "orders@maple.example"


def test_a_mail_claiming_a_verified_contact_that_fails_authentication_is_marked(
        gateway: tuple[str, int], maple: Tenant) -> None:
    Contact.objects.create(company=maple.company, email="ceo@customer.example",
                           external_id="u-1", verified=True)
    support = default_address(maple.company)
    forged = mail(support.address, sender="ceo@customer.example")
    forged["Authentication-Results"] = ("mx.inbound.example; spf=fail "
                                        "smtp.mailfrom=customer.example; dmarc=fail")
    send(gateway, forged)
    honest = mail(support.address, sender="ceo@customer.example", subject="Another")
    honest["Authentication-Results"] = "mx.inbound.example; dkim=pass; spf=pass; dmarc=pass"
    # A lower Authentication-Results came with the mail: the receiving server's is the top.
    honest["Authentication-Results"] = "evil.example; dmarc=fail"
    send(gateway, honest)
    first, second = Event.objects.filter(sender=Sender.VISITOR).order_by("pk")
    assert first.email is not None and first.email["unverified"] is True
    assert second.email is not None and second.email["unverified"] is False


def test_an_email_sender_is_one_interlocutor_with_their_chat(
        gateway: tuple[str, int], maple: Tenant) -> None:
    from django.utils import timezone

    from plug2support.billing.traffic import company_traffic
    from plug2support.conversations.actions.messages import do_leave_offline_message
    from plug2support.conversations.actions.visitors import do_identify_visitor

    visitor, _ = do_identify_visitor(maple.widget, None)
    do_leave_offline_message(visitor, client_id="o1", email="jane@customer.example",
                             body="Do you deliver?")
    support = default_address(maple.company)
    send(gateway, mail(support.address, subject="Another question"))
    send(gateway, mail(support.address, sender="sam@customer.example", subject="Hi"))
    start = timezone.now().replace(year=2000)
    assert company_traffic(maple.company.pk, start, timezone.now()).interlocutors == 2


def test_a_flood_from_ever_new_addresses_lands_in_suspended(
        gateway: tuple[str, int], maple: Tenant, settings: Any) -> None:
    settings.MAIL_NEW_CONVERSATIONS_PER_COMPANY_HOUR = 3
    support = default_address(maple.company)
    for n in range(5):
        send(gateway, mail(support.address, sender=f"flood+{n}@flood.example",
                           subject=f"Offer {n}"))
    stages = list(Conversation.objects.order_by("pk").values_list("stage", flat=True))
    assert stages == [Stage.NEW] * 3 + [Stage.SUSPENDED] * 2


def test_the_gateway_takes_at_most_a_hundred_recipients_a_message(
        gateway: tuple[str, int], maple: Tenant) -> None:
    support = default_address(maple.company)
    with smtplib.SMTP(*gateway) as client:
        client.ehlo()
        client.mail("jane@customer.example")
        for _ in range(100):
            assert client.rcpt(support.address)[0] == 250
        code, text = client.rcpt(support.address)
    assert code == 452 and b"at most 100" in text


def test_one_company_writing_to_another_is_a_customer_there_not_a_loop(
        gateway: tuple[str, int], maple: Tenant, birch: Tenant) -> None:
    maple_address = default_address(maple.company)
    birch_address = default_address(birch.company)
    send(gateway, mail(birch_address.address, sender=f"Maple <{maple_address.address}>"))
    assert Conversation.objects.get().company == birch.company
    # Its own address writing to itself would be mail of ours come back: no conversation.
    send(gateway, mail(birch_address.address, sender=birch_address.address, subject="Echo"))
    assert Conversation.objects.count() == 1
