"""The providers' inbound webhooks (issue 17 point 2; F4): Mailgun, Postmark, SendGrid,
Amazon SES and Brevo. Each provider's post shaped as its docs describe and signed as it
signs (tests/mail_webhook_posts.py): a signed post stores one InboundMail for the right
company; an unsigned, badly signed, stale or foreign post, or one to a provider not
configured here, stores nothing and gets a 4xx; mail for no company's address stores
nothing and gets a 200 (so the provider stops retrying it); a redelivery stores once; A's
mail never lands in B; a message over the limit gets 413 (the real server refuses a body
too big before reading it). Then hypothesis: arbitrary bodies never get a 500."""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.request
from collections.abc import Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plug2support.mail.models import InboundMail, SupportAddress, Via

from .conftest import Tenant
from .mail_webhook_posts import (
    PROVIDERS,
    SECRET,
    SIGNING_KEY,
    TOPIC,
    Post,
    Signer,
    amazon_ses,
    basic,
    brevo,
    form_data,
    mailgun,
    mailgun_parsed,
    mailgun_signature,
    postmark,
    raw_mail,
    sendgrid,
    ses_notification,
    sns_post,
)
from .test_upload_limits import _connect, _response

BASIC_AUTH = ("postmark", "sendgrid", "brevo")
BREVO_KEY = "xkeysib-test-key"


# --- set-up: a local stand-in for Brevo's attachment API, SNS's key, two companies ----------

class BrevoAPI(ThreadingHTTPServer):
    files: dict[str, tuple[str, bytes]]
    requests: list[tuple[str, str | None]]


class _BrevoHandler(BaseHTTPRequestHandler):
    server: BrevoAPI

    def do_GET(self) -> None:  # noqa: N802
        self.server.requests.append((self.path, self.headers.get("api-key")))
        token = self.path.rsplit("/", 1)[-1]
        if self.headers.get("api-key") != BREVO_KEY or token not in self.server.files:
            self.send_response(404)
            self.end_headers()
            return
        content_type, data = self.server.files[token]
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def brevo_api() -> Iterator[BrevoAPI]:
    server = BrevoAPI(("127.0.0.1", 0), _BrevoHandler)
    server.files, server.requests = {}, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def signers() -> tuple[Signer, Signer]:
    return Signer.make("sns.us-east-1.amazonaws.com"), Signer.make("someone else")


@pytest.fixture(autouse=True)
def configured(settings: Any, tmp_path: Path, signers: tuple[Signer, Signer],
               brevo_api: BrevoAPI) -> None:
    certificate = tmp_path / "sns-signing.pem"
    certificate.write_bytes(signers[0].certificate_pem)
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY, "WEBHOOK_SECRET": SECRET,
                        "BREVO_API_KEY": BREVO_KEY,
                        "BREVO_API_URL": f"http://127.0.0.1:{brevo_api.server_port}/v3/"}
    settings.MAIL_SES_SNS_CERTIFICATE = str(certificate)
    settings.MAIL_SES_SNS_TOPIC_ARNS = [TOPIC]
    brevo_api.files.clear()
    brevo_api.requests.clear()


@pytest.fixture
def addresses(acme: Tenant, globex: Tenant) -> tuple[str, str]:
    """Acme's and Globex's support addresses."""
    a = SupportAddress.objects.create(company=acme.company, widget=acme.widget,
                                      local_part="acme-1a2b", is_default=True)
    b = SupportAddress.objects.create(company=globex.company, widget=globex.widget,
                                      local_part="globex-3c4d", is_default=True)
    return a.address, b.address


@pytest.fixture
def build(signers: tuple[Signer, Signer]) -> Any:
    def build(provider: str, raw: bytes, recipients: list[str], signing: str = "good",
              **options: Any) -> Post:
        if provider == "amazon_ses":
            return amazon_ses(raw, recipients, signing, signer=signers[0], foreign=signers[1],
                              **options)
        maker = {"mailgun": mailgun, "postmark": postmark, "sendgrid": sendgrid,
                 "brevo": brevo}[provider]
        return maker(raw, recipients, signing, **options)  # type: ignore[operator]
    return build


def mail_for(provider: str, to: str, **options: Any) -> bytes:
    # Postmark carries the raw message in a JSON string, Brevo none: 7-bit for them.
    return raw_mail(to, eight_bit=provider not in ("postmark", "brevo"), **options)


def error_code(answer: Any) -> str:
    return str(answer.json()["error"]["code"])


# --- a signed post ---------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_signed_post_to_a_support_address_stores_one_inbound_mail(
        provider: str, addresses: tuple[str, str], acme: Tenant, build: Any) -> None:
    acme_address, _ = addresses
    raw = mail_for(provider, f"Acme Support <{acme_address}>", message_id="<order-17@example.org>")
    answer = build(provider, raw, [acme_address]).send()
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"stored": 1, "duplicates": 0, "for_no_company": 0}
    mail = InboundMail.objects.get()
    assert (mail.company_id, mail.provider, mail.via, mail.recipient) == (
        acme.company.pk, provider, Via.WEBHOOK, acme_address)
    assert (mail.message_id, mail.sender) == ("order-17@example.org", "carla@example.org")
    parsed = message_from_bytes(bytes(mail.raw), policy=policy.default)
    assert parsed["Subject"] == "Where is my order?"
    assert "café crème" in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    if provider != "brevo":  # the message as the provider received it, byte for byte
        assert bytes(mail.raw) == raw


def test_mailgun_s_parsed_variant_is_stored_as_anymail_rebuilds_it(
        addresses: tuple[str, str]) -> None:
    answer = mailgun_parsed(addresses[0], "<parsed-1@example.org>").send()
    assert answer.status_code == 200, answer.content
    parsed = message_from_bytes(bytes(InboundMail.objects.get().raw), policy=policy.default)
    assert parsed["Subject"] == "Parsed by Mailgun"
    assert [a.get_filename() for a in parsed.iter_attachments()] == ["invoice.txt"]


def test_postmark_without_the_raw_email_is_stored_as_anymail_rebuilds_it(
        addresses: tuple[str, str]) -> None:
    raw = mail_for("postmark", addresses[0], message_id="<rebuilt@example.org>")
    answer = postmark(raw, [addresses[0]], include_raw=False).send()
    assert answer.status_code == 200, answer.content
    mail = InboundMail.objects.get()
    assert mail.message_id == "rebuilt@example.org"
    parsed = message_from_bytes(bytes(mail.raw), policy=policy.default)
    assert "café crème" in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_brevo_s_attachments_are_fetched_with_the_api_key(
        addresses: tuple[str, str], brevo_api: BrevoAPI) -> None:
    brevo_api.files["tok-1"] = ("application/pdf", b"%PDF-1.4 an invoice")
    raw = mail_for("brevo", addresses[0])
    attachment = {"Name": "invoice.pdf", "ContentType": "application/pdf",
                  "ContentLength": 19, "ContentID": None, "DownloadToken": "tok-1"}
    answer = brevo(raw, [addresses[0]], attachments=[attachment]).send()
    assert answer.status_code == 200, answer.content
    assert brevo_api.requests == [("/v3/inbound/attachments/tok-1", BREVO_KEY)]
    parsed = message_from_bytes(bytes(InboundMail.objects.get().raw), policy=policy.default)
    [part] = parsed.iter_attachments()
    assert (part.get_filename(), part.get_content()) == ("invoice.pdf", b"%PDF-1.4 an invoice")


def test_a_brevo_attachment_that_cannot_be_fetched_stores_nothing_and_asks_for_a_retry(
        addresses: tuple[str, str]) -> None:
    attachment = {"Name": "gone.pdf", "ContentType": "application/pdf", "ContentLength": 1,
                  "ContentID": None, "DownloadToken": "expired"}
    answer = brevo(mail_for("brevo", addresses[0]), [addresses[0]],
                   attachments=[attachment]).send()
    assert answer.status_code == 502
    assert error_code(answer) == "attachment_unavailable"
    assert not InboundMail.objects.exists()


# --- posts that are not the provider's --------------------------------------------------------

REFUSED = [(p, s) for p in PROVIDERS for s in ("none", "bad", "foreign", "stale")
           if not (s == "stale" and p in BASIC_AUTH)]  # basic auth has no age


@pytest.mark.parametrize(("provider", "signing"), REFUSED)
def test_an_unsigned_badly_signed_stale_or_foreign_post_changes_nothing(
        provider: str, signing: str, addresses: tuple[str, str], build: Any) -> None:
    raw = mail_for(provider, addresses[0])
    answer = build(provider, raw, [addresses[0]], signing).send()
    assert 400 <= answer.status_code < 500, answer.content
    expected = {"none": {"unsigned", "unauthenticated"},
                "bad": {"bad_signature", "bad_credentials"},
                "foreign": {"bad_signature", "bad_credentials"}, "stale": {"stale_signature"}}
    assert error_code(answer) in expected[signing]
    if provider in BASIC_AUTH or provider == "amazon_ses" and signing == "none":
        assert answer.status_code == 401  # SNS sends its credentials after this challenge
        assert answer["WWW-Authenticate"].startswith("Basic ")
    assert not InboundMail.objects.exists()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_not_configured_refuses_every_post(
        provider: str, addresses: tuple[str, str], build: Any, settings: Any) -> None:
    # Anymail alone would warn and accept these: nothing checks an unset secret.
    settings.ANYMAIL = {"BREVO_API_KEY": BREVO_KEY}
    settings.MAIL_SES_SNS_CERTIFICATE = ""
    answer = build(provider, mail_for(provider, addresses[0]), [addresses[0]]).send()
    assert answer.status_code == 404
    assert error_code(answer) == "not_configured"
    assert not InboundMail.objects.exists()


def test_ses_with_a_secret_but_no_sns_certificate_is_not_configured(
        addresses: tuple[str, str], build: Any, settings: Any) -> None:
    settings.MAIL_SES_SNS_CERTIFICATE = ""
    answer = build("amazon_ses", mail_for("amazon_ses", addresses[0]), [addresses[0]]).send()
    assert answer.status_code == 404
    assert not InboundMail.objects.exists()


def test_a_mailgun_signature_replayed_with_another_message_is_refused(
        addresses: tuple[str, str]) -> None:
    signature = mailgun_signature()
    first = mailgun(raw_mail(addresses[0]), [addresses[0]], signature=signature).send()
    assert first.status_code == 200
    # Mailgun signs timestamp and token, not the body: the same fields could carry anything.
    replay = mailgun(raw_mail(addresses[0], subject="Not from Mailgun"), [addresses[0]],
                     signature=signature).send()
    assert replay.status_code == 403
    assert error_code(replay) == "replayed_signature"
    assert InboundMail.objects.get().message_id != ""
    assert InboundMail.objects.count() == 1


@pytest.mark.parametrize("version", ["1", "2"])
def test_sns_signature_versions_1_and_2_are_verified(
        version: str, addresses: tuple[str, str], build: Any) -> None:
    answer = build("amazon_ses", mail_for("amazon_ses", addresses[0]), [addresses[0]],
                   version=version).send()
    assert answer.status_code == 200, answer.content
    assert InboundMail.objects.count() == 1


def test_the_sns_certificate_file_may_hold_the_next_certificate_too(
        addresses: tuple[str, str], build: Any, settings: Any, tmp_path: Path,
        signers: tuple[Signer, Signer]) -> None:
    both = tmp_path / "rotating.pem"
    both.write_bytes(signers[1].certificate_pem + signers[0].certificate_pem)
    settings.MAIL_SES_SNS_CERTIFICATE = str(both)
    answer = build("amazon_ses", mail_for("amazon_ses", addresses[0]), [addresses[0]]).send()
    assert answer.status_code == 200, answer.content


def test_an_sns_topic_not_ours_is_refused(addresses: tuple[str, str], build: Any,
                                          settings: Any) -> None:
    settings.MAIL_SES_SNS_TOPIC_ARNS = ["arn:aws:sns:eu-west-1:123456789012:another"]
    answer = build("amazon_ses", mail_for("amazon_ses", addresses[0]), [addresses[0]]).send()
    assert answer.status_code == 403
    assert error_code(answer) == "unknown_topic"
    assert not InboundMail.objects.exists()


def test_an_sns_subscription_is_logged_for_the_operator_and_nothing_is_fetched(
        signers: tuple[Signer, Signer], caplog: Any) -> None:
    subscribe = (f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
                 f"&TopicArn={TOPIC}&Token=2336412f37fb")
    message = signers[0].sign({
        "Type": "SubscriptionConfirmation", "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb", "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.\nTo confirm the "
                   "subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": subscribe,
        "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")})
    answer = sns_post(message).send()
    assert answer.status_code == 200, answer.content
    assert subscribe in caplog.text
    # The same, not signed by SNS: refused.
    forged = {**message, "SubscribeURL": "https://attacker.example/confirm"}
    assert sns_post(forged).send().status_code == 403


def test_an_ses_s3_action_is_refused_as_unsupported(addresses: tuple[str, str],
                                                    build: Any) -> None:
    answer = build("amazon_ses", b"", [addresses[0]], action="S3").send()
    assert answer.status_code == 400
    assert error_code(answer) == "unsupported_action"


# --- where it lands ---------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_mail_for_no_company_s_address_stores_nothing_and_is_answered_200(
        provider: str, addresses: tuple[str, str], build: Any) -> None:
    # 200, not a refusal: the provider would otherwise retry it for days.
    for nobody in ("nobody@inbound.localhost", "someone@example.org"):
        answer = build(provider, mail_for(provider, nobody), [nobody]).send()
        assert answer.status_code == 200, answer.content
        assert answer.json() == {"stored": 0, "duplicates": 0, "for_no_company": 1}
    assert not InboundMail.objects.exists()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_redelivery_with_the_same_message_id_stores_once(
        provider: str, addresses: tuple[str, str], build: Any) -> None:
    raw = mail_for(provider, addresses[0], message_id="<same@example.org>")
    post = build(provider, raw, [addresses[0]])
    assert post.send().json()["stored"] == 1
    # Mailgun signs each delivery afresh; SNS resends the very same signed message.
    again = build(provider, raw, [addresses[0]]) if provider == "mailgun" else post
    answer = again.send()
    assert answer.status_code == 200
    assert answer.json() == {"stored": 0, "duplicates": 1, "for_no_company": 0}
    assert InboundMail.objects.count() == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_mail_to_one_company_never_lands_in_the_other(
        provider: str, addresses: tuple[str, str], acme: Tenant, globex: Tenant,
        build: Any) -> None:
    acme_address, globex_address = addresses
    assert build(provider, mail_for(provider, acme_address), [acme_address]).send().json()[
        "stored"] == 1
    assert list(InboundMail.objects.values_list("company_id", flat=True)) == [acme.company.pk]
    # Brevo reports no envelope, Postmark one OriginalRecipient: their recipients include
    # the headers'. The others':
    if provider not in ("brevo", "postmark"):
        # Globex named in the headers but not among the envelope's recipients: not Globex's.
        raw = mail_for(provider, acme_address, cc=globex_address)
        assert build(provider, raw, [acme_address]).send().json()["stored"] == 1
        assert not InboundMail.objects.filter(company=globex.company).exists()
    # Written to both: each company stores its own copy, for its own address.
    raw = mail_for(provider, acme_address, cc=globex_address)
    assert build(provider, raw, [acme_address, globex_address]).send().json()["stored"] == 2
    assert InboundMail.objects.get(company=globex.company).recipient == globex_address


# --- size ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_message_over_the_size_limit_is_refused_with_413(
        provider: str, addresses: tuple[str, str], build: Any, settings: Any) -> None:
    raw = mail_for(provider, addresses[0])
    settings.MAIL_MAX_BYTES = len(raw) - 10
    answer = build(provider, raw, [addresses[0]]).send()
    assert answer.status_code == 413
    assert answer.json()["error"] == {"code": "too_large",
                                      "message": f"A message is at most {len(raw) - 10} bytes."}
    assert not InboundMail.objects.exists()


def test_a_declared_body_over_the_webhook_limit_is_refused_before_it_is_read(
        addresses: tuple[str, str], settings: Any) -> None:
    settings.MAIL_MAX_BYTES = 1000
    body = json.dumps({"RawEmail": "x" * (2 * 1024 * 1024)}).encode()
    answer = Post("/mail/inbound/postmark/", body, "application/json",
                  {"Authorization": "nothing read"}).send()
    assert answer.status_code == 413
    assert error_code(answer) == "too_large"


def test_only_post_is_accepted_and_head_answers_when_configured() -> None:
    client = Client()
    assert client.get("/mail/inbound/postmark/").status_code == 405
    assert client.head("/mail/inbound/postmark/").status_code == 200


def test_ses_credentials_and_the_sns_signature_are_both_required(
        addresses: tuple[str, str], signers: tuple[Signer, Signer]) -> None:
    raw = mail_for("amazon_ses", addresses[0])
    unsigned = ses_notification(raw, [addresses[0]])  # with the right credentials
    answer = sns_post(unsigned).send()
    assert answer.status_code == 403 and error_code(answer) == "bad_signature"
    signed = signers[0].sign(ses_notification(raw, [addresses[0]]))
    answer = sns_post(signed, "bad-auth").send()  # SNS's signature, someone else's password
    assert answer.status_code == 401 and error_code(answer) == "bad_credentials"
    assert not InboundMail.objects.exists()


# --- the real server: its body guard ------------------------------------------------------------

def test_the_server_refuses_a_declared_body_over_the_webhook_limit_without_reading_it(
        live: str) -> None:
    with _connect(live) as sock:
        # Ten gigabytes announced, not one byte sent: the answer cannot wait for them.
        sock.sendall(b"POST /mail/inbound/postmark/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (10 * 1024 ** 3))
        status, body = _response(sock)
    assert status == 413
    assert body["error"]["code"] == "too_large"


def test_the_server_cuts_off_a_chunked_webhook_body_at_the_limit(live: str,
                                                                 settings: Any) -> None:
    settings.MAIL_MAX_BYTES = 10_000
    chunk = b"x" * 65536
    with _connect(live) as sock:
        sock.sendall(b"POST /mail/inbound/mailgun/mime/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        # Far past the limit (1 MiB and twice the message's), and never a last chunk.
        try:
            for _ in range(40):
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while sending: the answer is waiting
        status, body = _response(sock)
    assert status == 413 and body["error"]["code"] == "too_large"
    assert not InboundMail.objects.exists()


def test_a_message_bigger_than_other_bodies_may_be_passes_the_server_to_its_webhook(
        live: str, tenants: tuple[Tenant, Tenant], settings: Any) -> None:
    # Every other body is capped at the upload limit: the webhooks have the message's own.
    settings.ATTACHMENT_MAX_BYTES = 1000
    acme, _ = tenants
    address = SupportAddress.objects.create(company=acme.company, widget=acme.widget,
                                            local_part="acme-live").address
    raw = raw_mail(address, eight_bit=False) + b"A long message line.\r\n" * 20_000
    post = postmark(raw, [address])
    request = urllib.request.Request(live + post.path, post.body, method="POST",
                                     headers={**post.headers, "Content-Type": post.content_type})
    with urllib.request.urlopen(request, timeout=20) as answer:
        assert answer.status == 200
        assert json.loads(answer.read())["stored"] == 1
    assert len(bytes(InboundMail.objects.get(company=acme.company).raw)) == len(raw)


# --- odd bodies -------------------------------------------------------------------------------

# Modest: the suite runs twice in CI.
PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
NAMES = st.sampled_from([
    "recipient", "sender", "from", "subject", "body-mime", "body-plain", "message-headers",
    "attachment-count", "content-id-map", "event", "attachments", "email", "headers",
    "envelope", "charsets", "text", "html", "attachment-info", "To", "Cc"]) | st.text(max_size=12)
VALUES = st.binary(max_size=300) | st.text(max_size=300).map(str.encode)
KEYS = st.sampled_from([
    "items", "RawEmail", "Headers", "Attachments", "OriginalRecipient", "ToFull", "FromFull",
    "RecordType", "TextBody", "Uuid", "To", "Cc", "Subject", "DownloadToken", "Name",
    "Value", "notificationType", "receipt", "mail", "action", "type", "encoding", "content",
    "recipients", "Type", "Message"]) | st.text(max_size=10)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25)


Fields = list[tuple[str, bytes]]


@st.composite
def bodies(draw: Any) -> tuple[str, Fields | bytes, str]:
    """A form (its fields, to be signed or not), JSON, or any bytes under any type."""
    kind = draw(st.sampled_from(["multipart", "urlencoded", "json", "bytes"]))
    if kind == "json":
        return kind, json.dumps(draw(JSON)).encode(), "application/json"
    if kind == "bytes":
        return kind, draw(st.binary(max_size=500)), draw(st.sampled_from(
            ["application/json", "multipart/form-data; boundary=b", "text/plain",
             "application/x-www-form-urlencoded"]))
    return kind, draw(st.lists(st.tuples(NAMES, VALUES), max_size=10)), ""


def _encoded(kind: str, body: Fields | bytes, content_type: str,
             signature: list[tuple[str, str]]) -> tuple[bytes, str]:
    if isinstance(body, bytes):
        return body, content_type
    fields = [*body, *[(n, v.encode()) for n, v in signature]]
    if kind == "multipart":
        return form_data(fields)
    return urlencode(fields).encode(), "application/x-www-form-urlencoded"


@st.composite
def sns_messages(draw: Any) -> dict[str, Any]:
    """SNS-shaped, SES-shaped inside, every value arbitrary: signed, they reach anymail."""
    ses = draw(st.dictionaries(KEYS, JSON, max_size=5) | st.fixed_dictionaries({
        "notificationType": st.sampled_from(["Received", "Bounce"]) | st.text(max_size=5),
        "receipt": st.dictionaries(KEYS, JSON, max_size=4), "mail": JSON, "content": JSON}))
    return {"Type": draw(st.sampled_from(["Notification", "SubscriptionConfirmation",
                                          "UnsubscribeConfirmation"])),
            "MessageId": draw(st.text(min_size=1, max_size=20)), "TopicArn": TOPIC,
            "Message": draw(st.just(json.dumps(ses)) | st.text(max_size=40)),
            "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "Token": draw(st.text(max_size=10)), "SubscribeURL": draw(st.text(max_size=20))}


def _refused_or_harmless(answer: Any, provider: str) -> None:
    # 502 only for Brevo: an attachment the post names could not be fetched (retry later).
    allowed = {200, 400, 401, 403, 413} | ({502} if provider == "brevo" else set())
    assert answer.status_code in allowed, (answer.status_code, answer.content)
    assert not InboundMail.objects.exists()


@pytest.mark.parametrize("provider", PROVIDERS)
@PROPERTY
@given(body=bodies(), signed=st.booleans())
def test_arbitrary_bodies_never_get_a_500_and_store_nothing(
        provider: str, body: tuple[str, Fields | bytes, str], signed: bool,
        addresses: tuple[str, str]) -> None:
    # Signed: Mailgun's fields added to a form, the others' credentials sent.
    signature = mailgun_signature() if signed and provider == "mailgun" else []
    data, content_type = _encoded(*body, signature)
    headers = {"Authorization": basic(SECRET)} if signed and provider != "mailgun" else {}
    path = "/mail/inbound/mailgun/mime/" if provider == "mailgun" else f"/mail/inbound/{provider}/"
    _refused_or_harmless(Post(path, data, content_type, headers).send(), provider)


@PROPERTY
@given(message=sns_messages())
def test_arbitrary_signed_sns_messages_never_get_a_500_and_store_nothing(
        message: dict[str, Any], addresses: tuple[str, str],
        signers: tuple[Signer, Signer]) -> None:
    _refused_or_harmless(sns_post(signers[0].sign(message)).send(), "amazon_ses")


def test_a_form_of_more_fields_than_django_allows_is_refused_before_any_is_kept() -> None:
    body, content_type = form_data([*[("f", b"")] * 1001, *mailgun_signature()])
    answer = Post("/mail/inbound/mailgun/mime/", body, content_type).send()
    assert answer.status_code == 400 and error_code(answer) == "bad_request"
