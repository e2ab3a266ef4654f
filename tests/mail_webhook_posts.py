"""The providers' inbound posts as their documentation describes them, signed as they sign
them: Mailgun's HMAC-SHA256 of timestamp+token, HTTP basic auth for Postmark, SendGrid and
Brevo, and for Amazon SES an SNS notification with a real RSA signature over the string
AWS's "Verifying the signatures of Amazon SNS messages" builds (here again, on its own, so
the test checks the server's version rather than sharing it)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from django.test import Client

SIGNING_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"  # Mailgun's shape
FOREIGN_SIGNING_KEY = "key-another-account-000000000000000"
SECRET = "plug2support:5oMe-long-webhook-passw0rd"
FOREIGN_SECRET = "plug2support:another-deployment-password"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-inbound"
PROVIDERS = ("mailgun", "postmark", "sendgrid", "amazon_ses", "brevo")
# Signing variants: the right one, none, a wrong one, one by someone else, an old one.
SIGNINGS = ("good", "none", "bad", "foreign", "stale")


@dataclass
class Signer:
    """An RSA key and its self-signed certificate, in SNS's place."""
    key: rsa.RSAPrivateKey
    certificate_pem: bytes

    @classmethod
    def make(cls, name: str) -> Signer:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                       .public_key(key.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(now - dt.timedelta(days=1))
                       .not_valid_after(now + dt.timedelta(days=365))
                       .sign(key, hashes.SHA256()))
        return cls(key, certificate.public_bytes(serialization.Encoding.PEM))

    def sign(self, message: dict[str, Any], version: str = "2") -> dict[str, Any]:
        if message["Type"] == "Notification":
            keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        else:
            keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                    "Type"]
        text = "".join(f"{k}\n{message[k]}\n" for k in keys if k in message)
        # SignatureVersion 1 is SHA-1 by AWS's definition (still the topics' default).
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
        signature = self.key.sign(text.encode(), padding.PKCS1v15(), algorithm)
        return {**message, "SignatureVersion": version,
                "Signature": base64.b64encode(signature).decode(),
                "SigningCertURL": "https://sns.us-east-1.amazonaws.com/"
                                  "SimpleNotificationService-0000000000000000000000.pem"}


def raw_mail(to: str, *, message_id: str = "", subject: str = "Where is my order?",
             cc: str = "", eight_bit: bool = True) -> bytes:
    """A customer's message as a mail client sends it; 8-bit Latin-1 text unless the
    provider carries the message as JSON text (then quoted-printable)."""
    message_id = message_id or f"<{uuid.uuid4().hex}@mail.example.org>"
    head = [
        "Return-Path: <carla@example.org>",
        "Received: from mail.example.org by mx.provider.example; Tue, 3 Mar 2026 10:21:49 +0000",
        "MIME-Version: 1.0",
        "From: Carla Customer <carla@example.org>",
        f"To: {to}",
        *([f"Cc: {cc}"] if cc else []),
        f"Subject: {subject}",
        "Date: Tue, 3 Mar 2026 10:21:48 +0000",
        f"Message-ID: {message_id}",
        "Content-Type: text/plain; charset=iso-8859-1",
    ]
    if eight_bit:
        head.append("Content-Transfer-Encoding: 8bit")
        body = "Bonjour, ma commande de café crème n'est pas arrivée.\r\n".encode("latin-1")
    else:
        head.append("Content-Transfer-Encoding: quoted-printable")
        body = b"Bonjour, ma commande de caf=E9 cr=E8me n'est pas arriv=E9e.\r\n"
    return "\r\n".join(head).encode() + b"\r\n\r\n" + body


def form_data(fields: Sequence[tuple[str, bytes | str]],
              files: Sequence[tuple[str, str, str, bytes]] = ()) -> tuple[bytes, str]:
    """multipart/form-data as the providers post it (values as bytes, not re-encoded)."""
    boundary = "----provider" + secrets.token_hex(8)
    chunks = []
    for name, value in fields:
        data = value.encode() if isinstance(value, str) else value
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                      .encode() + data + b"\r\n")
    for name, filename, content_type, data in files:
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                      f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
                      .encode() + data + b"\r\n")
    return b"".join(chunks) + f"--{boundary}--\r\n".encode(), \
        f"multipart/form-data; boundary={boundary}"


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


@dataclass
class Post:
    path: str
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, client: Client | None = None) -> Any:
        client = client or Client()
        return client.post(self.path, self.body, content_type=self.content_type,
                           headers=self.headers)


def _credentials(signing: str) -> dict[str, str]:
    return {"good": {"Authorization": basic(SECRET)}, "stale": {"Authorization": basic(SECRET)},
            "none": {}, "bad": {"Authorization": basic(SECRET + "x")},
            "foreign": {"Authorization": basic(FOREIGN_SECRET)}}[signing]


def mailgun_signature(signing: str = "good", timestamp: int | None = None) -> list[tuple[str, str]]:
    if signing == "none":
        return []
    timestamp = timestamp or int(time.time()) - (7200 if signing == "stale" else 0)
    token = secrets.token_hex(25)
    key = FOREIGN_SIGNING_KEY if signing == "foreign" else SIGNING_KEY
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    if signing == "bad":
        signature = signature[:-4] + "0000"
    return [("timestamp", str(timestamp)), ("token", token), ("signature", signature)]


def mailgun(raw: bytes, recipients: list[str], signing: str = "good",
            signature: list[tuple[str, str]] | None = None) -> Post:
    """A route's forward() to a URL ending in "mime" (Mailgun's "Receiving messages via
    HTTP through a forward() action": the raw message in `body-mime`)."""
    fields: list[tuple[str, bytes | str]] = [
        ("recipient", ", ".join(recipients)), ("sender", "carla@example.org"),
        ("from", "Carla Customer <carla@example.org>"), ("subject", "Where is my order?"),
        ("body-mime", raw), *(signature if signature is not None else mailgun_signature(signing))]
    body, content_type = form_data(fields)
    return Post("/mail/inbound/mailgun/mime/", body, content_type)


def mailgun_parsed(recipient: str, message_id: str, signing: str = "good") -> Post:
    """The parsed variant (the URL not ending in "mime"), with one attachment."""
    headers = [["From", "Carla Customer <carla@example.org>"], ["To", recipient],
               ["Subject", "Parsed by Mailgun"], ["Message-Id", message_id],
               ["Date", "Tue, 3 Mar 2026 10:21:48 +0000"]]
    fields: list[tuple[str, bytes | str]] = [
        ("recipient", recipient), ("sender", "carla@example.org"),
        ("from", "Carla Customer <carla@example.org>"), ("subject", "Parsed by Mailgun"),
        ("body-plain", "Hello, the invoice is attached.\r\n"),
        ("stripped-text", "Hello, the invoice is attached."), ("stripped-signature", ""),
        ("body-html", "<p>Hello, the invoice is attached.</p>"),
        ("stripped-html", "<p>Hello, the invoice is attached.</p>"),
        ("attachment-count", "1"), ("message-headers", json.dumps(headers)),
        ("content-id-map", "{}"), *mailgun_signature(signing)]
    body, content_type = form_data(fields, [("attachment-1", "invoice.txt", "text/plain",
                                             b"Invoice 42: 12.50 EUR\r\n")])
    return Post("/mail/inbound/mailgun/", body, content_type)


def postmark_payload(raw: bytes, recipient: str, *, include_raw: bool = True,
                     to: str = "") -> dict[str, Any]:
    """Postmark's inbound webhook JSON ("Inbound webhook" in its developer docs)."""
    text = raw.decode("ascii")
    headers = dict(line.split(": ", 1) for line in text.split("\r\n\r\n")[0].split("\r\n"))
    message_id = headers["Message-ID"]
    to = to or recipient
    cc = headers.get("Cc", "")
    payload: dict[str, Any] = {
        "FromName": "Carla Customer", "MessageStream": "inbound", "From": "carla@example.org",
        "FromFull": {"Email": "carla@example.org", "Name": "Carla Customer", "MailboxHash": ""},
        "To": to, "ToFull": [{"Email": to, "Name": "", "MailboxHash": ""}],
        "Cc": cc, "CcFull": [{"Email": cc, "Name": "", "MailboxHash": ""}] if cc else [],
        "Bcc": "", "BccFull": [], "OriginalRecipient": recipient,
        "Subject": "Where is my order?", "MessageID": str(uuid.uuid4()), "ReplyTo": "",
        "MailboxHash": "", "Date": "Tue, 3 Mar 2026 10:21:48 +0000",
        "TextBody": "Bonjour, ma commande de café crème n'est pas arrivée.\n",
        "HtmlBody": "", "StrippedTextReply": "", "Tag": "",
        "Headers": [{"Name": "Return-Path", "Value": "<carla@example.org>"},
                    {"Name": "Message-ID", "Value": message_id},
                    {"Name": "MIME-Version", "Value": "1.0"}],
        "Attachments": [],
    }
    if include_raw:
        payload["RawEmail"] = text
    return payload


def postmark(raw: bytes, recipients: list[str], signing: str = "good", **options: Any) -> Post:
    body = json.dumps(postmark_payload(raw, recipients[0], **options)).encode()
    return Post("/mail/inbound/postmark/", body, "application/json", _credentials(signing))


def sendgrid(raw: bytes, recipients: list[str], signing: str = "good") -> Post:
    """Inbound Parse with "POST the raw, full MIME message" on."""
    fields: list[tuple[str, bytes | str]] = [
        ("dkim", "{@example.org : pass}"), ("email", raw), ("to", ", ".join(recipients)),
        ("from", "Carla Customer <carla@example.org>"), ("subject", "Where is my order?"),
        ("sender_ip", "192.0.2.10"), ("spam_report", ""), ("spam_score", "0.1"),
        ("envelope", json.dumps({"to": recipients, "from": "carla@example.org"})),
        ("charsets", json.dumps({"to": "UTF-8", "from": "UTF-8", "subject": "UTF-8"})),
        ("SPF", "pass")]
    body, content_type = form_data(fields)
    return Post("/mail/inbound/sendgrid/", body, content_type, _credentials(signing))


def sns_post(message: dict[str, Any], signing: str = "good") -> Post:
    headers = {"x-amz-sns-message-type": message["Type"],
               "x-amz-sns-message-id": message["MessageId"], "x-amz-sns-topic-arn": TOPIC,
               "User-Agent": "Amazon Simple Notification Service Agent",
               **_credentials("bad" if signing == "bad-auth" else
                              "none" if signing == "none" else "good")}
    # SNS posts JSON as text/plain.
    return Post("/mail/inbound/amazon_ses/", json.dumps(message).encode(),
                "text/plain; charset=UTF-8", headers)


def ses_notification(raw: bytes, recipients: list[str], *, action: str = "SNS",
                     sent: dt.datetime | None = None) -> dict[str, Any]:
    """An SES receipt rule's SNS action ("Base64" encoding) in an SNS notification."""
    ses_event: dict[str, Any] = {
        "notificationType": "Received",
        "mail": {"timestamp": "2026-03-03T10:21:51.636Z", "source": "carla@example.org",
                 "messageId": secrets.token_hex(20), "destination": recipients,
                 "headersTruncated": False, "headers": [],
                 "commonHeaders": {"returnPath": "carla@example.org",
                                   "from": ["Carla Customer <carla@example.org>"],
                                   "to": recipients, "subject": "Where is my order?"}},
        "receipt": {"timestamp": "2026-03-03T10:21:51.636Z", "processingTimeMillis": 357,
                    "recipients": recipients, "spamVerdict": {"status": "PASS"},
                    "virusVerdict": {"status": "PASS"}, "spfVerdict": {"status": "PASS"},
                    "dkimVerdict": {"status": "PASS"}, "dmarcVerdict": {"status": "PASS"},
                    "action": ({"type": "SNS", "topicArn": TOPIC, "encoding": "BASE64"}
                               if action == "SNS" else
                               {"type": "S3", "topicArn": TOPIC, "bucketName": "inbound",
                                "objectKey": "inbound/x"})},
    }
    if action == "SNS":
        ses_event["content"] = base64.b64encode(raw).decode()
    sent = sent or dt.datetime.now(dt.UTC)
    return {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC,
            "Subject": "Amazon SES Email Receipt Notification",
            "Message": json.dumps(ses_event),
            "Timestamp": sent.strftime("%Y-%m-%dT%H:%M:%S.") + f"{sent.microsecond // 1000:03d}Z",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&"
                              f"SubscriptionArn={TOPIC}:6a1b"}


def amazon_ses(raw: bytes, recipients: list[str], signing: str = "good", *,
               signer: Signer, foreign: Signer, version: str = "2", **options: Any) -> Post:
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    message = ses_notification(raw, recipients, sent=stale if signing == "stale" else None,
                               **options)
    if signing in ("good", "stale", "bad"):
        message = signer.sign(message, version)
    elif signing == "foreign":
        message = foreign.sign(message, version)
    if signing == "bad":  # signed, then changed on the way
        message["Message"] = message["Message"].replace("PASS", "FAIL", 1)
    return sns_post(message, signing)


def brevo_item(raw: bytes, to: str, attachments: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """One parsed message of Brevo's inbound webhook ("Inbound parsing webhooks")."""
    text = raw.decode("latin-1")
    headers = dict(line.split(": ", 1) for line in text.split("\r\n\r\n")[0].split("\r\n"))
    return {
        "Uuid": [str(uuid.uuid4())], "MessageId": headers["Message-ID"], "InReplyTo": None,
        "From": {"Name": "Carla Customer", "Address": "carla@example.org"},
        "To": [{"Name": None, "Address": to}], "Cc": None, "ReplyTo": None,
        "SentAtDate": headers["Date"], "Subject": headers["Subject"],
        "Attachments": list(attachments),
        "Headers": {"Received": [headers["Received"]], "MIME-Version": "1.0",
                    "From": headers["From"], "Date": headers["Date"],
                    "Message-ID": headers["Message-ID"], "Subject": headers["Subject"],
                    "To": headers["To"], **({"Cc": headers["Cc"]} if "Cc" in headers else {}),
                    "Content-Type": "text/plain"},
        "SpamScore": 0.4,
        "ExtractedMarkdownMessage": "Bonjour, ma commande n'est pas arrivée.",
        "ExtractedMarkdownSignature": None,
        "RawHtmlBody": None,
        "RawTextBody": "Bonjour, ma commande de café crème n'est pas arrivée.\r\n",
    }


def brevo(raw: bytes, recipients: list[str], signing: str = "good",
          attachments: Sequence[dict[str, Any]] = ()) -> Post:
    body = json.dumps({"items": [brevo_item(raw, ", ".join(recipients), attachments)]}).encode()
    return Post("/mail/inbound/brevo/", body, "application/json", _credentials(signing))
