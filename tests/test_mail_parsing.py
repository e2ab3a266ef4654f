"""Mail as real clients send it (issue 17 points 3 and 6, F3, F5): the corpus in
tests/data/mail/ (messages shaped as Gmail, Outlook, Apple Mail, Thunderbird, iPhone Mail,
a webmail, Roundcube, Exchange, Postfix and Mailman write them) read into what the team
sees; the HTML sanitised; automatic mail and bounces recognised; the receiving server's
Authentication-Results read, the sender's forged ones not; and `parse` never raising nor
taking long, whatever the bytes."""

from __future__ import annotations

import base64
import random
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plug2support.mail import quoting
from plug2support.mail.parsing import PARTS_MAX, MailFile, ParsedMail, parse

CORPUS = Path(__file__).parent / "data" / "mail"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def corpus(name: str) -> ParsedMail:
    return parse((CORPUS / name).read_bytes())


def mail(*headers: str, body: str | bytes = "Hello", content_type: str = "text/plain; "
         "charset=utf-8") -> bytes:
    head = [*headers]
    if content_type:
        head.append(f"Content-Type: {content_type}")
    data = body if isinstance(body, bytes) else body.encode()
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


# --- the corpus -------------------------------------------------------------------------------

def test_gmail_reply_keeps_the_answer_and_folds_the_closing_and_the_quote() -> None:
    parsed = corpus("gmail_reply.eml")
    assert parsed.subject == "Re: Order #4521 hasn't arrived"
    assert (parsed.from_name, parsed.from_address) == ("Anna Schmidt",
                                                       "anna.schmidt.hh@gmail.com")
    assert parsed.to == ["support@maple-coffee.example"]
    assert parsed.message_id == "CAJx8Fq3vK2+Wm1T0b9yRkPz7XHn4sQe_9uG7HdLz0pYw=mA@mail.gmail.com"
    assert parsed.in_reply_to == ["p2s.812.mN4kQ9sV@maple-coffee.example"]
    assert parsed.references == [
        "CAJx8Fq0aB1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV1wX2yZ3A4bC@mail.gmail.com",
        "p2s.812.mN4kQ9sV@maple-coffee.example"]
    assert parsed.date == datetime(2024, 3, 5, 8, 41, 27, tzinfo=UTC)
    # "Thanks, …" opens the reply: a sentence, not a signature.
    assert parsed.text == (
        "Thanks, the tracking link works now \u2013 it says the parcel arrives on Thursday.\n\n"
        "One more question: can I switch the grind of my next subscription box to\nespresso?")
    assert parsed.quoted.startswith("Best,\nAnna\n\nOn Mon, Mar 4, 2024 at 4:12\u202fPM Maple")
    assert "> sorry for the wait!" in parsed.quoted
    assert "<blockquote>" in parsed.html and "sorry for the wait!" in parsed.html
    assert 'class="gmail_quote"' not in parsed.html and "style=" not in parsed.html
    assert parsed.files == [] and parsed.automatic == "" and parsed.warnings == []
    assert parsed.authentication.checked and parsed.authentication.passed
    assert parsed.authentication.summary == "dkim=pass spf=pass dmarc=pass"


def test_outlook_reply_in_windows_1252_folds_the_from_sent_block() -> None:
    parsed = corpus("outlook_reply.eml")
    assert parsed.subject == "RE: Wholesale order for the Berlin office"
    assert (parsed.from_name, parsed.from_address) == ("M\u00fcller, Thomas",
                                                       "thomas.mueller@contoso.example")
    assert parsed.cc == ["maria.lopez@contoso.example"]
    assert parsed.text == (
        "Hello,\n\nwe\u2019d like 40 bags of the house blend instead of 30 for the Berlin "
        "office. Could you update the invoice before it goes out?")
    assert parsed.quoted.startswith("Kind regards\nThomas M\u00fcller\n\nContoso GmbH")
    assert "________________________________\nFrom: Maple Coffee Support" in parsed.quoted
    assert "Sent: Monday, March 4, 2024 5:03 PM" in parsed.quoted
    # Word's HTML: the style sheet and the conditional XML are gone, the words kept.
    assert "<p>we\u2019d like 40 bags" in parsed.html
    assert "font-face" not in parsed.html and "<style" not in parsed.html
    assert "MsoNormal" not in parsed.html and "<o:p>" not in parsed.html
    # Microsoft writes no authserv-id: its header starts with the first result.
    assert parsed.authentication.passed
    assert parsed.authentication.summary == "spf=pass dkim=pass dmarc=pass compauth=pass"


def test_apple_mail_in_french_folds_the_quoted_attribution() -> None:
    parsed = corpus("apple_mail.eml")
    assert parsed.subject == "Re: Votre commande n\u00b04610"
    assert parsed.from_name == "Camille Lef\u00e8vre"
    assert parsed.text == ("Bonjour,\n\nMerci beaucoup ! Le colis est bien arriv\u00e9 ce "
                           "matin, et le caf\u00e9 sent tr\u00e8s bon.")
    assert parsed.quoted.startswith("Bonne journ\u00e9e,\nCamille\n\n> Le 4 mars 2024")
    assert parsed.quoted.endswith("> Sam")
    assert "<blockquote>" in parsed.html and 'type="cite"' not in parsed.html


def test_thunderbird_format_flowed_is_joined_and_the_signature_folded() -> None:
    parsed = corpus("thunderbird.eml")
    assert parsed.subject == "Re: Abo pausieren"
    assert parsed.from_address == "jonas.becker@posteo.example"
    # The soft line breaks of format=flowed are undone.
    assert parsed.text == (
        "Hallo,\n\nbitte pausiert mein Abo f\u00fcr April und Mai. Ab Juni m\u00f6chte ich "
        "dann gerne wieder zwei Packungen im Monat bekommen, gern wieder die Sorte "
        "\u201eBergfr\u00fchst\u00fcck\u201c.")
    assert parsed.quoted.startswith("Viele Gr\u00fc\u00dfe\nJonas\n\n--\nJonas Becker")
    assert "Am 04.03.24 um 16:12 schrieb Maple Coffee Support:" in parsed.quoted
    assert ("> nat\u00fcrlich k\u00f6nnen wir Ihr Abo pausieren. F\u00fcr welchen Zeitraum "
            "m\u00f6chten Sie pausieren?") in parsed.quoted
    assert parsed.html == ""


def test_iphone_reply_folds_sent_from_my_iphone_and_the_quote() -> None:
    parsed = corpus("mobile_ios.eml")
    assert parsed.text == "Yes please, a refund to the same card is fine."
    assert parsed.quoted.startswith("Sent from my iPhone\n\n> On 4 Mar 2024, at 20:42,")
    # iPhone Mail opens the quote with a byte-order mark; it is not kept.
    assert "\ufeff" not in parsed.quoted and "> Hi Priya," in parsed.quoted
    assert parsed.date == datetime(2024, 3, 5, 12, 3, 51,
                                   tzinfo=timezone(timedelta(hours=5, minutes=30)))


def test_html_only_mail_gets_its_text_from_the_html_and_is_sanitised() -> None:
    parsed = corpus("html_only.eml")
    assert parsed.subject == "Espresso machine: descaling light stays on"
    assert (parsed.from_name, parsed.from_address) == ("Hannah O'Brien",
                                                       "hannah@obrien-bakery.example")
    assert parsed.text == (
        "Hi there,\n\nthe descaling light on our Maple Pro 2 stays on after the cycle "
        "finished.\n\n- Water tank refilled\n- Cycle run twice\n\nI followed the manual "
        "<https://maple-coffee.example/manuals/pro2.pdf> (page 14) and this guide.")
    assert parsed.quoted == "Thanks,\nHannah\n\nHannah O'Brien\nO'Brien's Bakery"
    markup = parsed.html
    for gone in ("<script", "alert(", "onerror", "onclick", "javascript:", "<style",
                 "style=", "document.write", "evil.example"):
        assert gone not in markup, gone
    assert ('<a href="https://maple-coffee.example/manuals/pro2.pdf" target="_blank" '
            'rel="noopener noreferrer nofollow">manual</a>') in markup
    assert "<strong>Maple Pro&nbsp;2</strong>" in markup
    assert "<ul><li>Water tank refilled</li>" in markup


def test_iso_8859_1_body_and_encoded_words_are_decoded() -> None:
    parsed = corpus("iso_8859_1.eml")
    assert parsed.subject == "Re: Encomenda n\u00ba 4733 - caf\u00e9 mo\u00eddo ou em gr\u00e3o?"
    assert parsed.from_name == "Jo\u00e3o Concei\u00e7\u00e3o"
    assert parsed.text == (
        "Bom dia,\n\nprefiro o caf\u00e9 mo\u00eddo para cafeteira italiana, por favor. Se "
        "poss\u00edvel, enviem tamb\u00e9m a fatura com o meu NIF.")
    # Portuguese, which mail-parser-reply lacks: "Em … escreveu:" and "Obrigado,".
    assert parsed.quoted.startswith("Obrigado,\nJo\u00e3o\n\nEm 04/03/2024 16:12, Maple "
                                    "Coffee Support escreveu:")
    assert parsed.warnings == []


def test_pdf_attachment_with_an_encoded_word_name() -> None:
    parsed = corpus("attachment_pdf.eml")
    assert parsed.text.startswith("Hello,\n\nattached is the invoice you asked for.")
    assert parsed.quoted == "Regards,\nLena"
    [pdf] = parsed.files
    assert pdf.name == "Rechnung M\u00e4rz 2024.pdf"  # Gmail's RFC 2047 in the parameter
    assert pdf.content_type == "application/pdf" and not pdf.inline
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.content.rstrip().endswith(b"%%EOF")


def test_inline_image_keeps_its_cid_for_the_html() -> None:
    parsed = corpus("inline_image.eml")
    assert parsed.subject == "Checkout error with PayPal"
    assert "[image: image.png]" in parsed.text and parsed.quoted == ""
    [image] = parsed.files
    assert image == MailFile(name="image.png", content_type="image/png",
                             content=image.content, content_id="ii_lte4a1b20", inline=True)
    assert image.content.startswith(PNG_MAGIC)
    assert '<img src="cid:ii_lte4a1b20" alt="image.png" width="480" height="120">' in parsed.html


def test_forwarded_message_keeps_its_text_and_its_attachments() -> None:
    parsed = corpus("forwarded.eml")
    assert parsed.subject == "Fwd: Your parcel could not be delivered"
    assert parsed.text.startswith(
        "The courier sent me this, is my order coming back to you?\n\nRuth\n\n"
        "---------- Forwarded message ---------\n"
        "From: Parcel Express <noreply@parcels.example>\n")
    assert "Subject: Your parcel could not be delivered\n" in parsed.text
    assert parsed.text.endswith("The delivery notice is attached.\n\nParcel Express")
    assert parsed.quoted == ""
    assert [(f.name, f.content_type) for f in parsed.files] == [
        ("delivery-notice.pdf", "application/pdf")]
    assert parsed.files[0].content.startswith(b"%PDF-")


def test_inline_forward_is_content_not_quoted_history() -> None:
    parsed = corpus("gmail_forward.eml")
    assert parsed.text.startswith("Charged twice?\n\n---------- Forwarded message ---------")
    assert parsed.text.endswith("You sent a payment of 24.90 EUR to Maple Coffee.")
    assert parsed.quoted == ""


def test_out_of_office_reply_is_automatic() -> None:
    parsed = corpus("auto_reply.eml")
    assert parsed.automatic == "Auto-Submitted: auto-replied"
    assert not parsed.is_bounce and parsed.bounced == []
    assert parsed.to == ["reply+1042-3f9c0a7d5e2b8c4a1f6d@inbound.localhost"]
    assert parsed.text.startswith("I am out of the office until 11 March")


def test_delivery_status_notification_names_the_failed_recipient() -> None:
    parsed = corpus("dsn_bounce.eml")
    assert parsed.is_bounce
    assert parsed.bounced == ["tom.wilson@oldcompany.example"]
    assert parsed.automatic == "delivery status notification"
    assert parsed.from_address == "mailer-daemon@mail.maple-coffee.example"
    # The notice for people; the machine-readable status and returned headers are not text.
    assert parsed.text.startswith("This is the mail system at host")
    assert "Reporting-MTA" not in parsed.text and "X-Postfix-Sender" not in parsed.text


def test_mailing_list_post_is_automatic() -> None:
    parsed = corpus("list_mail.eml")
    assert parsed.automatic == "List-Id: Coffee Lovers <coffee-lovers.lists.example>"
    assert not parsed.is_bounce
    assert parsed.subject == "[Coffee Lovers] Which grinder for pour-over?"


def test_malformed_mime_is_kept_as_text_with_warnings() -> None:
    parsed = corpus("malformed.eml")
    assert parsed.subject == "Printer manual"
    assert parsed.from_address == "sales-bot@printshop.example"
    assert "Please find the manual for the label printer below." in parsed.text
    assert "binary garbage" in parsed.text and "\x00" not in parsed.text
    assert "malformed MIME: missing header body separator" in parsed.warnings
    assert "malformed MIME: multipart/mixed without its parts, kept as text" in parsed.warnings
    assert parsed.files == []


# --- sanitised HTML -------------------------------------------------------------------------

def test_hostile_html_loses_everything_that_could_run_or_navigate() -> None:
    markup = ('<p onclick="x()">Hi<script>alert(1)</script></p>'
              '<img src="cid:logo@x" onerror="alert(2)"><img src="javascript:alert(3)">'
              '<img src="data:image/png;base64,iVBORw0KGgo="><img src="data:text/html,x">'
              '<a href="javascript:alert(4)">a</a><a href="JaVaScRiPt:alert(5)">b</a>'
              '<a href="data:text/html,<script>x</script>">c</a><a href="cid:x">d</a>'
              '<a href="/relative">e</a><a href="mailto:a@b.example">f</a>'
              '<iframe src="https://evil.example"></iframe><form action="x"><input></form>'
              '<svg onload="alert(6)"><circle/></svg><style>*{}</style><base href="x">'
              '<meta http-equiv="refresh" content="0;url=https://evil.example">')
    parsed = parse(mail(body=markup, content_type="text/html; charset=utf-8"))
    html = parsed.html
    for gone in ("onclick", "onerror", "onload", "javascript", "<script", "alert(",
                 "<iframe", "<form", "<input", "<svg", "<style", "<base", "<meta",
                 "data:text", "evil.example", "/relative", 'href="cid:'):
        assert gone.lower() not in html.lower(), gone
    assert '<img src="cid:logo@x">' in html
    assert '<img src="data:image/png;base64,iVBORw0KGgo=">' in html
    assert 'href="mailto:a@b.example"' in html
    assert parsed.text.startswith("Hi")


def test_a_plain_text_part_beside_html_in_mixed_is_shown_in_the_html_too() -> None:
    raw = mail("From: a@b.example", content_type='multipart/mixed; boundary="b"', body=(
        "--b\r\nContent-Type: text/html\r\n\r\n<p>First <b>part</b></p>\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nA footer <added> by a list\r\n--b--\r\n"))
    parsed = parse(raw)
    assert parsed.text == "First part\n\nA footer <added> by a list"
    assert "<p>First <b>part</b></p>" in parsed.html
    assert "A footer &lt;added&gt; by a list" in parsed.html


# --- Authentication-Results ---------------------------------------------------------------

def _authenticated(*results: str, sender: str = "anna@shop.example",
                   ids: tuple[str, ...] = ()) -> tuple[bool, bool, str]:
    raw = mail(*[f"Authentication-Results: {value}" for value in results], f"From: {sender}")
    found = parse(raw, authserv_ids=ids).authentication
    return found.checked, found.passed, found.summary


def test_only_the_topmost_authentication_results_counts() -> None:
    # The receiving server's verdict on top; below it one the sender wrote into the mail.
    assert _authenticated(
        "mx.inbound.example; spf=fail smtp.mailfrom=shop.example; dkim=none; "
        "dmarc=fail header.from=shop.example",
        "mx.inbound.example; spf=pass smtp.mailfrom=shop.example; dkim=pass "
        "header.d=shop.example; dmarc=pass header.from=shop.example",
    ) == (True, False, "spf=fail dkim=none dmarc=fail")
    assert _authenticated(
        "mx.inbound.example; dmarc=pass header.from=shop.example",
        "mx.inbound.example; dmarc=fail header.from=shop.example",
    ) == (True, True, "dmarc=pass")


def test_named_receiving_servers_skip_a_forged_header_on_top() -> None:
    forged = "mx.inbound.example; dmarc=pass header.from=shop.example"
    ours = "mx.ours.example; spf=softfail smtp.mailfrom=shop.example; dmarc=fail"
    assert _authenticated(forged, ours, ids=("MX.ours.example",)) == (
        True, False, "spf=softfail dmarc=fail")
    assert _authenticated(forged, ids=("mx.ours.example",)) == (False, False, "")


@pytest.mark.parametrize(("results", "passed"), [
    # DMARC decides, whatever SPF and DKIM say.
    ("x; spf=pass smtp.mailfrom=shop.example; dkim=pass header.d=shop.example; dmarc=fail",
     False),
    ("x; spf=fail smtp.mailfrom=other.example; dmarc=pass header.from=shop.example", True),
    ("x; dmarc=bestguesspass header.from=shop.example", True),
    # A DMARC verdict about another From domain says nothing about this one.
    ("x; dmarc=pass header.from=evil.example", False),
    # Without DMARC: a passing DKIM signature or SPF sender of the From domain (or a
    # subdomain) is enough; of another domain it is not.
    ("x; dkim=pass header.d=mail.shop.example; dmarc=none", True),
    ("x; dkim=pass header.i=@shop.example", True),
    ("x; dkim=pass header.d=mailer.example; spf=pass smtp.mailfrom=bounce@mailer.example",
     False),
    ("x; spf=pass smtp.mailfrom=bounces@shop.example", True),
    ("x; spf=pass smtp.mailfrom=shop.example.evil.example", False),
    ("x; dkim=fail header.d=shop.example; spf=neutral smtp.mailfrom=shop.example", False),
    ("x; none", False),
    # Comments may hold ";" and "=".
    ("x (comment; dkim=pass) ; spf=fail (sender x; spf=pass) smtp.mailfrom=shop.example",
     False),
])
def test_what_passing_authentication_means(results: str, passed: bool) -> None:
    assert _authenticated(results)[1] is passed


def test_no_authentication_results_is_unchecked() -> None:
    assert parse(mail("From: a@b.example")).authentication.checked is False


# --- automatic mail and bounces -------------------------------------------------------------

@pytest.mark.parametrize(("header", "reason"), [
    ("Auto-Submitted: auto-generated", "Auto-Submitted: auto-generated"),
    ("Auto-Submitted: auto-replied (vacation)", "Auto-Submitted: auto-replied (vacation)"),
    ("Auto-Submitted: no", ""),
    ("Auto-Submitted: No (a person wrote this)", ""),
    ("X-Autoreply: yes", "X-Autoreply: yes"),
    ("X-Autorespond: Thanks for your mail", "X-Autorespond: Thanks for your mail"),
    ("Precedence: bulk", "Precedence: bulk"),
    ("Precedence: junk", "Precedence: junk"),
    ("Precedence: list", "Precedence: list"),
    ("Precedence: first-class", ""),
    ("List-Id: <news.shop.example>", "List-Id: <news.shop.example>"),
    ("Return-Path: <>", "Return-Path: <> (no address for replies)"),
    ("Return-Path: <anna@shop.example>", ""),
])
def test_automatic_mail_is_recognised_by_its_headers(header: str, reason: str) -> None:
    assert parse(mail("From: anna@shop.example", header)).automatic == reason


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example", "postmaster@shop.example",
                                    "Mail Delivery <Mailer-Daemon@mx.example>"])
def test_the_mail_systems_own_mail_is_automatic(sender: str) -> None:
    parsed = parse(mail(f"From: {sender}", "Subject: Delivery failed"))
    assert parsed.automatic.startswith("From: ")


def test_a_read_receipt_report_is_automatic_but_no_bounce() -> None:
    raw = mail("From: anna@shop.example", body=(
        "--r\r\nContent-Type: text/plain\r\n\r\nYour message was displayed.\r\n"
        "--r\r\nContent-Type: message/disposition-notification\r\n\r\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\r\n\r\n--r--\r\n"),
        content_type="multipart/report; report-type=disposition-notification; boundary=r")
    parsed = parse(raw)
    assert parsed.automatic == "report (disposition-notification)"
    assert not parsed.is_bounce and parsed.bounced == []


def test_a_non_rfc_bounce_from_the_mail_system_is_read_too() -> None:
    raw = mail("From: Mail Delivery System <Mailer-Daemon@mx.example>",
               "Subject: Mail delivery failed: returning message to sender", body=(
                   "This message was created automatically by mail delivery software.\r\n\r\n"
                   "A message that you sent could not be delivered to one or more of its\r\n"
                   "recipients. This is a permanent error. The following address(es) failed:"
                   "\r\n\r\n  Tom@Old.example\r\n    SMTP error from remote mail server after "
                   "RCPT TO:<Tom@Old.example>:\r\n    550 5.1.1 User unknown\r\n"))
    parsed = parse(raw)
    assert parsed.is_bounce and parsed.bounced == ["tom@old.example"]


def test_a_customer_quoting_a_bounce_is_no_bounce() -> None:
    raw = mail("From: anna@shop.example", "Subject: Your mails bounce", body=(
        "I got this when writing to you:\r\n\r\nThe following address(es) failed:\r\n\r\n"
        "  support@maple-coffee.example\r\n    550 5.1.1 User unknown\r\n"))
    parsed = parse(raw)
    assert parsed.automatic == "" and not parsed.is_bounce and parsed.bounced == []


def test_a_delayed_delivery_report_is_a_bounce_with_no_failed_recipient() -> None:
    raw = mail("From: MAILER-DAEMON@mx.example", body=(
        "--d\r\nContent-Type: text/plain\r\n\r\nStill trying.\r\n"
        "--d\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example"
        "\r\n\r\nFinal-Recipient: rfc822; late@slow.example\r\nAction: delayed\r\n"
        "Status: 4.4.7\r\n\r\n--d--\r\n"),
        content_type="multipart/report; report-type=delivery-status; boundary=d")
    parsed = parse(raw)
    assert parsed.is_bounce and parsed.bounced == []
    assert parsed.automatic == "delivery status notification"


# --- headers, charsets, names -------------------------------------------------------------

def test_raw_utf8_headers_and_unknown_charsets_are_read() -> None:
    raw = ("From: J\u00fcrgen M\u00fcller <J.Mueller@Example.COM>\r\n"
           "Subject: =?x-unknown?q?caf=E9?= and Gr\u00fc\u00dfe\r\n"
           "To: a@b.example, broken <not an address>, =?utf-8?q?Z=C3=B6e?= <zoe@b.example>,"
           " a@b.example\r\n"
           "Content-Type: text/plain; charset=x-no-such-charset\r\n\r\n").encode() + (
        "Gr\u00fc\u00dfe aus K\u00f6ln").encode("utf-8")
    parsed = parse(raw)
    assert parsed.from_name == "J\u00fcrgen M\u00fcller"
    assert parsed.from_address == "j.mueller@example.com"
    assert parsed.subject == "caf\u00e9 and Gr\u00fc\u00dfe"
    assert parsed.to == ["a@b.example", "zoe@b.example"]
    assert parsed.text == "Gr\u00fc\u00dfe aus K\u00f6ln"
    assert parsed.warnings == ["unknown charset 'x-no-such-charset'"]


@pytest.mark.parametrize(("charset", "data", "text"), [
    ("utf-8", "caf\u00e9".encode("latin-1"), "caf\u00e9"),  # mislabelled: Windows-1252 then
    ("iso-8859-1", b"\x93quoted\x94", "\u201cquoted\u201d"),  # latin-1 as browsers read it
    ("us-ascii", "na\u00efve".encode(), "na\u00efve"),
    ("koi8-r", "\u043f\u0440\u0438\u0432\u0435\u0442".encode("koi8-r"),
     "\u043f\u0440\u0438\u0432\u0435\u0442"),
    ("shift_jis", "\u3053\u3093\u306b\u3061\u306f".encode("shift_jis"),
     "\u3053\u3093\u306b\u3061\u306f"),
    ("rot13", b"uryyb", "uryyb"),  # a codec, but no text encoding
])
def test_text_is_decoded_in_its_charset_or_the_likely_one(charset: str, data: bytes,
                                                          text: str) -> None:
    assert parse(mail(body=data, content_type=f"text/plain; charset={charset}")).text == text


def test_a_mail_without_from_or_ids_has_empty_fields() -> None:
    parsed = parse(b"Subject: hi\r\n\r\nbody")
    assert (parsed.from_address, parsed.from_name, parsed.message_id) == ("", "", "")
    assert parsed.in_reply_to == [] and parsed.date is None


def test_ids_and_dates_as_clients_break_them() -> None:
    parsed = parse(mail("Message-ID: no-angle-brackets@x.example",
                        "In-Reply-To: Your message of Mon, 4 Mar <p2s.1.a@x.example>",
                        "References: <a@x> <b@x>\r\n <a@x>  <c@x>",
                        "Date: 5 Mar 2024 09:00:00 -0000"))
    assert parsed.message_id == "no-angle-brackets@x.example"
    assert parsed.in_reply_to == ["p2s.1.a@x.example"]
    assert parsed.references == ["a@x", "b@x", "c@x"]
    assert parsed.date == datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
    assert parse(mail("Date: yesterday")).date is None


def test_attachment_names_are_made_safe_and_nameless_parts_named() -> None:
    data = base64.b64encode(b"some bytes").decode()
    parts = [
        ('application/pdf; name="..\\\\..\\\\Windows\\\\evil.pdf"', "attachment", "evil.pdf"),
        ("application/pdf", 'attachment; filename="../../etc/passwd"', "passwd"),
        ("application/octet-stream", "attachment; filename*=UTF-8''inv%E2%80%AEfdp.exe",
         "invfdp.exe"),  # the right-to-left override is gone
        ("image/png", "inline", "image.png"),
        ("application/octet-stream", "attachment", "attachment"),
        ("text/calendar; method=REQUEST", "", "attachment.ics"),
        ("application/pdf", 'attachment; filename="' + "a" * 300 + '.pdf"',
         "a" * 146 + ".pdf"),
    ]
    body = "".join(
        f"--m\r\nContent-Type: {ctype}\r\n"
        + (f"Content-Disposition: {disposition}\r\n" if disposition else "")
        + f"Content-Transfer-Encoding: base64\r\n\r\n{data}\r\n" for ctype, disposition, _ in parts)
    parsed = parse(mail(body="--m\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" + body
                        + "--m--\r\n", content_type="multipart/mixed; boundary=m"))
    assert [f.name for f in parsed.files] == [name for _, _, name in parts]
    assert parsed.text == "see attached"


def test_a_pgp_signature_is_no_attachment() -> None:
    raw = mail(content_type='multipart/signed; protocol="application/pgp-signature"; '
               "micalg=pgp-sha256; boundary=s", body=(
                   "--s\r\nContent-Type: text/plain\r\n\r\nSigned words\r\n--s\r\n"
                   "Content-Type: application/pgp-signature; name=signature.asc\r\n\r\n"
                   "-----BEGIN PGP SIGNATURE-----\r\nxyz\r\n-----END PGP SIGNATURE-----\r\n"
                   "--s--\r\n"))
    parsed = parse(raw)
    assert parsed.text == "Signed words" and parsed.files == []


def test_an_empty_text_alternative_falls_back_to_the_html() -> None:
    raw = mail(content_type="multipart/alternative; boundary=a", body=(
        "--a\r\nContent-Type: text/plain\r\n\r\n\r\n--a\r\nContent-Type: text/html\r\n\r\n"
        "<div>Only <i>here</i></div>\r\n--a--\r\n"))
    parsed = parse(raw)
    assert parsed.text == "Only here" and "<i>here</i>" in parsed.html


# --- quoted history and signatures --------------------------------------------------------

@pytest.mark.parametrize(("attribution", "language"), [
    ("On Mon, 4 Mar 2024 at 10:12, Sam <s@m.example> wrote:", "en"),
    ("Am 04.03.2024 um 10:12 schrieb Sam <s@m.example>:", "de"),
    ("Le lun. 4 mars 2024 \u00e0 10:12, Michelle <s@m.example> a \u00e9crit :", "fr"),
    ("El lun, 4 mar 2024 a las 10:12, Sam (<s@m.example>) escribi\u00f3:", "es"),
    ("Il giorno lun 4 mar 2024 alle ore 10:12 Sam <s@m.example> ha scritto:", "it"),
    ("Op ma 4 mrt 2024 om 10:12 schreef Sam <s@m.example>:", "nl"),
    ("Op 4 mrt. 2024 om 10:12 heeft Sam <s@m.example> het volgende geschreven:", "nl"),
    ("Em seg., 4 de mar. de 2024 \u00e0s 10:12, Sam <s@m.example> escreveu:", "pt"),
    ("-----Original Message-----", "en"),
])
def test_the_quoted_history_is_found_in_every_language(attribution: str, language: str) -> None:
    text, quoted = quoting.split(f"My answer.\n\n{attribution}\nthe history\nmore history")
    assert (text, quoted) == ("My answer.", f"{attribution}\nthe history\nmore history")


@pytest.mark.parametrize("block", [
    "From: Sam <s@m.example>\nSent: Monday, March 4, 2024 10:12 AM\nTo: Anna\nSubject: RE: x",
    "Von: Sam <s@m.example>\nGesendet: Montag, 4. M\u00e4rz 2024 10:12\nAn: Anna\nBetreff: x",
    "De\u00a0: Sam <s@m.example>\nEnvoy\u00e9\u00a0: lundi 4 mars 2024 10:12\n\u00c0\u00a0: Anna",
    "De: Sam <s@m.example>\nEnviado: lunes, 4 de marzo de 2024 10:12\nPara: Anna",
    "Da: Sam <s@m.example>\nInviato: luned\u00ec 4 marzo 2024 10:12\nA: Anna",
    "Van: Sam <s@m.example>\nVerzonden: maandag 4 maart 2024 10:12\nAan: Anna",
    "De: Sam <s@m.example>\nEnviado: segunda-feira, 4 de mar\u00e7o de 2024 10:12\nPara: A",
])
def test_outlook_header_blocks_are_found_in_every_language(block: str) -> None:
    text, quoted = quoting.split(f"Reply.\n\n________________________________\n{block}\n\nold")
    assert text == "Reply." and quoted.endswith("\n\nold")


@pytest.mark.parametrize(("body", "text"), [
    # A closing phrase that starts a sentence is no signature.
    ("Hi,\n\nThanks, that fixed it.\nThe grinder works again.", None),
    ("Hi,\n\nThanks, it works now\nno more noise", None),
    ("Hi,\n\nregards, the team is confused?\nNo idea.", None),
    # Closings and sign-offs are.
    ("It works.\n\nThanks,\nAnna", "It works."),
    ("It works.\n\nBest regards, Anna M\u00fcller\nShop GmbH", "It works."),
    ("Es geht.\n\nMit freundlichen Gr\u00fc\u00dfen\nAnna", "Es geht."),
    ("It works.\n\n-- \nAnna Schmidt\nShop GmbH | +49 40 1234", "It works."),
    ("Ok\n\nSent from my Galaxy", "Ok"),
    ("Ok\n\nEnviado do meu iPhone", "Ok"),
    # The last closing counts, not a first one far above it.
    ("Thanks for the reply.\n\nThanks, I tried that, still broken:\n\n  File x.py\n    "
     "raise\n\nBest,\nAnna", "Thanks for the reply.\n\nThanks, I tried that, still broken:\n"
     "\n  File x.py\n    raise"),
])
def test_signatures_are_folded_but_sentences_kept(body: str, text: str | None) -> None:
    assert quoting.split(body)[0] == (body if text is None else text)


@pytest.mark.parametrize("marker", [
    "---------- Forwarded message ---------", "-------- Forwarded Message --------",
    "Begin forwarded message:", "Anfang der weitergeleiteten Nachricht:",
    "---------- Weitergeleitete Nachricht ---------",
    "D\u00e9but du message r\u00e9exp\u00e9di\u00e9 :",
    "Inicio del mensaje reenviado:", "Inizio messaggio inoltrato:",
    "Begin doorgestuurd bericht:", "In\u00edcio da mensagem reencaminhada:",
])
def test_a_forward_is_kept_whole_in_every_language(marker: str) -> None:
    body = f"See below.\n\n{marker}\nFrom: Shop <s@shop.example>\nDate: Mon\nTo: me\n\nOld"
    assert quoting.split(body) == (body, "")


def test_a_forward_in_the_history_of_a_reply_goes_with_the_history() -> None:
    body = ("Done, thanks.\n\nOn Mon, 4 Mar 2024, Sam <s@m.example> wrote:\n> FYI\n>\n"
            "> ---------- Forwarded message ---------\n> From: x")
    assert quoting.split(body)[0] == "Done, thanks."


def test_a_message_that_is_only_history_is_kept_whole() -> None:
    only_quoted = "On Mon, 4 Mar 2024, Sam <s@m.example> wrote:\n> the question\n\nmy answer"
    assert quoting.split(only_quoted) == (only_quoted, "")
    assert quoting.split("> just a quote") == ("> just a quote", "")
    assert quoting.split("-- \nonly a signature")[0] == "--\nonly a signature"


def test_indentation_survives_and_a_trailing_quote_is_folded() -> None:
    body = 'Traceback:\n    File "x.py", line 3\n        boom()\n\n> your line\n> and more\n'
    assert quoting.split(body) == ('Traceback:\n    File "x.py", line 3\n        boom()',
                                   "> your line\n> and more")


def test_the_html_quote_is_found_in_html_only_mail() -> None:
    markup = ('<div>Sounds good!</div><div class="gmail_quote"><div class="gmail_attr">On Mon, '
              'Mar 4, 2024 at 4:12 PM Sam &lt;s@m.example&gt; wrote:<br></div><blockquote>'
              'Shall we ship Friday?<blockquote>older</blockquote></blockquote></div>')
    parsed = parse(mail(body=markup, content_type="text/html"))
    assert parsed.text == "Sounds good!"
    assert parsed.quoted == ("On Mon, Mar 4, 2024 at 4:12 PM Sam <s@m.example> wrote:\n\n"
                             "> Shall we ship Friday?\n>\n> > older")


# --- bounds ---------------------------------------------------------------------------------

def test_parts_beyond_the_limit_are_ignored_with_a_warning() -> None:
    body = "".join(f"--x\r\nContent-Type: text/plain\r\n\r\npart {n}\r\n" for n in range(150))
    parsed = parse(mail(body=body + "--x--\r\n", content_type="multipart/mixed; boundary=x"))
    assert f"more than {PARTS_MAX} MIME parts: the rest ignored" in parsed.warnings
    assert "part 98" in parsed.text and "part 99" not in parsed.text


def test_nesting_beyond_the_limit_is_ignored_with_a_warning() -> None:
    def nested(depth: int) -> bytes:
        body = "Content-Type: text/plain\r\n\r\ndeep down\r\n"
        for n in reversed(range(depth)):
            body = (f"Content-Type: multipart/mixed; boundary=b{n}\r\n\r\n--b{n}\r\n{body}"
                    f"--b{n}--\r\n")
        return b"From: a@b.example\r\n" + body.encode()

    assert parse(nested(10)).text == "deep down"
    parsed = parse(nested(14))
    assert "MIME parts nested deeper than 10: ignored" in parsed.warnings
    assert parsed.text == ""


PATHOLOGICAL = {
    "Content-Type of 200,000 quotes": b"Content-Type: multipart/mixed; boundary="
    + b'"' * 200_000 + b"\r\n\r\n--x\r\nhi",
    "From of 200,000 parentheses": b"From: " + b"(" * 200_000 + b"\r\n\r\nhi",
    "To of 100,000 addresses": b"To: " + b"a@b.example, " * 100_000 + b"\r\n\r\nhi",
    "3,000 nested multiparts": b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (n, n)
        for n in range(3000)) + b"\r\nhi",
    "2,000 parts with long names": b"Content-Type: multipart/mixed; boundary=x\r\n\r\n" + (
        b'--x\r\nContent-Type: text/plain; name="' + b'"' * 3000 + b'\r\n\r\nhi\r\n') * 2000,
    "100,000 nested divs": b"Content-Type: text/html\r\n\r\n" + b"<div>" * 100_000,
    "300,000 unclosed links": b"Content-Type: text/html\r\n\r\n" + b"<a " * 300_000,
    "a long line of attributions": b"Content-Type: text/plain\r\n\r\n"
    + b"On Mon x wrote: Thanks, " * 200_000,
    "lines that almost attribute": b"Content-Type: text/plain\r\n\r\n"
    + (b"Il " + b"x " * 200 + b"\r\n") * 10_000,
    "300,000 headers": b"X-A: b\r\n" * 300_000 + b"\r\nhi",
    "a bounce of 20,000 recipients": b"From: MAILER-DAEMON@x.example\r\nContent-Type: "
    b"multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: "
    b"message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
    + b"Final-Recipient: rfc822; a@b.example\r\nAction: failed\r\n\r\n" * 20_000 + b"--x--",
    "a 5 MB notice from the mail system": b"From: Mailer-Daemon@x.example\r\n\r\n"
    + b"<a@b.example>: 550 user unknown\r\n" * 150_000,
}


@pytest.mark.parametrize("raw", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_input_is_parsed_in_bounded_time(raw: bytes) -> None:
    # Each took from 7 s to minutes before its bound; a second or two is the bound's cost.
    started = time.monotonic()
    parsed = parse(raw)
    assert time.monotonic() - started < 10
    assert isinstance(parsed.text, str)


# --- property: never raises ---------------------------------------------------------------

PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _check(parsed: ParsedMail) -> None:
    strings = [parsed.message_id, parsed.subject, parsed.from_address, parsed.from_name,
               parsed.text, parsed.quoted, parsed.html, parsed.automatic,
               parsed.authentication.summary, *parsed.in_reply_to, *parsed.references,
               *parsed.to, *parsed.cc, *parsed.reply_to, *parsed.bounced, *parsed.warnings,
               *(f.name for f in parsed.files), *(f.content_type for f in parsed.files),
               *(f.content_id for f in parsed.files)]
    for value in strings:
        assert isinstance(value, str)
        assert "\x00" not in value
        value.encode("utf-8")  # no lone surrogates: storable in PostgreSQL
    assert all(isinstance(f.content, bytes) for f in parsed.files)
    assert all(f.name for f in parsed.files)
    assert parsed.date is None or parsed.date.tzinfo is not None


@PROPERTY
@given(st.binary(max_size=4000))
def test_parse_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    _check(parse(raw))


_SEEDS = sorted(CORPUS.glob("*.eml"))
_PIECES = [b"\r\n", b"\r\n\r\n", b"--", b"=?utf-8?q?", b"?=", b"=", b"<", b">", b";",
           b"\x00", b"\xff", b"Content-Type: multipart/mixed; boundary=x\r\n", b"--x\r\n",
           b"charset=", b"base64", b"<div>", b"<blockquote>", b"> ", b"On x wrote:\n"]


@PROPERTY
@given(st.sampled_from(_SEEDS), st.lists(
    st.tuples(st.sampled_from(["cut", "flip", "insert", "drop"]), st.floats(0, 1),
              st.sampled_from(_PIECES)), min_size=1, max_size=8))
def test_parse_never_raises_on_mutated_corpus_messages(
        seed: Path, mutations: list[tuple[str, float, bytes]]) -> None:
    data = bytearray(seed.read_bytes())
    for kind, where, piece in mutations:
        at = int(where * len(data))
        if kind == "cut":
            del data[at:]
        elif kind == "flip" and at < len(data):
            data[at] ^= random.Random(at).randrange(1, 256)
        elif kind == "insert":
            data[at:at] = piece
        elif kind == "drop":
            del data[at:at + len(piece) * 7]
    _check(parse(bytes(data)))


@PROPERTY
@given(st.text(max_size=300), st.text(max_size=300))
def test_parse_never_raises_on_odd_headers_and_bodies(header: str, body: str) -> None:
    raw = (f"From: {header}\r\nSubject: {header}\r\nTo: {header}\r\nContent-Type: {header}\r\n"
           f"Authentication-Results: {header}\r\n\r\n{body}").encode("utf-8", "surrogatepass")
    _check(parse(raw))
