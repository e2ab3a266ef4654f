"""Mail in through the e-mail providers' inbound webhooks (F4): Mailgun, Postmark, SendGrid,
Amazon SES (by SNS) and Brevo post each message they receive for the inbound domain to
`/mail/inbound/<provider>/` (urls.py), and it is handed to intake.accept like the SMTP
gateway's.

django-anymail's inbound views turn each provider's post into a message (their
`parse_events`); who may post is decided here, before anymail reads anything, because
anymail warns and accepts unsigned posts when no secret is set, checks neither the age
nor the reuse of Mailgun's signatures (which do not cover the body), and never checks SNS's
signatures. So, per post:

1. A provider whose secret is not configured answers 404 to everything.
2. The post proves it is the provider's, else 4xx and nothing stored: Mailgun's
   HMAC-SHA256 of timestamp+token with the signing key, the timestamp within
   MAIL_WEBHOOK_TOLERANCE and the token not seen before; HTTP basic auth
   (ANYMAIL["WEBHOOK_SECRET"], "user:password" in the URL given to the provider) for the
   others, answered 401 with a challenge (SNS sends its credentials only after one); for
   SES also SNS's RSA signature against a certificate kept here (sns.py), the topic and
   the timestamp.
3. The message as the provider received it, raw when it sends it (Mailgun's `body-mime`,
   Postmark's `RawEmail`, SendGrid's `email`, SES's `content`), else anymail's rebuilt
   MIME (Brevo, and the parsed variants), for the envelope recipients the provider
   reports, else the message's To, Cc and delivery headers.

A message for no company's address stores nothing and answers 200: a refusal would have the
provider retry it for days. A signed post that is not a message answers 400, a message over
MAIL_MAX_BYTES 413; a body too big for any message is refused before it is read
(`body_limit`, used by ops/body_limits.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from email.utils import getaddresses
from typing import Any, ClassVar
from urllib.parse import quote, urljoin

import requests
from anymail.inbound import AnymailInboundMessage
from anymail.signals import AnymailInboundEvent
from anymail.utils import get_request_basic_auth
from anymail.webhooks.amazon_ses import AmazonSESInboundWebhookView
from anymail.webhooks.base import AnymailBaseWebhookView
from anymail.webhooks.brevo import BrevoInboundWebhookView
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from anymail.webhooks.sendgrid import SendGridInboundWebhookView
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.utils.crypto import constant_time_compare
from django.utils.datastructures import MultiValueDict
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from plug2support.lib import formdata, jsonin

from . import intake, sns
from .models import Via

log = logging.getLogger(__name__)

# Room for the fields around the message in a post (headers, envelope, signatures).
MARGIN_BYTES = 1024 * 1024
ATTACHMENT_TIMEOUT = 20  # seconds for each of Brevo's attachment downloads
_PATH = re.compile(r"^/mail/inbound/([a-z_]+)/(?:mime/)?$")
_DELIVERY_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "X-Forwarded-To", "Envelope-To")


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, *, challenge: bool = False) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.challenge = status, code, message, challenge


def _answer(status: int, code: str, message: str, *, challenge: bool = False) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    if challenge:
        response["WWW-Authenticate"] = 'Basic realm="Plug2Support inbound mail"'
    return response


def _too_big() -> Refusal:
    return Refusal(413, "too_large", f"A message is at most {settings.MAIL_MAX_BYTES} bytes.")


def _text(value: Any) -> bytes:
    """A raw message the provider sent as a JSON string, as bytes again (UTF-8: the JSON
    was, and lib/jsonin refused a lone surrogate, so nothing is replaced)."""
    if not isinstance(value, str):
        raise Refusal(400, "bad_request", "The raw message is not text.")
    return value.encode("utf-8", "replace")


class Posted(HttpRequest):
    """The provider's post as anymail's parsers read it: the body read once, and a form
    split by lib/formdata (Django's parser caps fields far below a message's size and keeps
    no raw bytes); `fields` keeps each form field's last value as posted."""

    def __init__(self, request: HttpRequest, body: bytes) -> None:
        super().__init__()
        self.method = "POST"
        self.META = request.META
        self.path, self.path_info = request.path, request.path_info
        self.content_type, self.content_params = request.content_type, request.content_params
        self._raw_body = body
        self.fields: dict[str, bytes] = {}
        try:
            if self.content_type == "multipart/form-data":
                boundary = (self.content_params or {}).get("boundary", "")
                parts = formdata.multipart(body, boundary)
            elif self.content_type == "application/x-www-form-urlencoded":
                parts = formdata.urlencoded(body)
            else:
                parts = []
        except formdata.BadForm as error:
            raise Refusal(400, "bad_request", f"The form cannot be read: {error}.") from None
        post = QueryDict(mutable=True)
        files: MultiValueDict[str, Any] = MultiValueDict()
        for part in parts:
            if part.filename is not None:
                files.appendlist(part.name, SimpleUploadedFile(
                    part.filename or "attachment", part.value,
                    part.content_type or "application/octet-stream"))
            else:
                post.appendlist(part.name, part.value.decode("utf-8", "replace"))
                self.fields[part.name] = part.value
        self.POST, self.FILES = post, files  # type: ignore[assignment]

    @property
    def body(self) -> bytes:
        return self._raw_body

    def json(self) -> dict[str, Any]:
        try:
            value = jsonin.loads(self._raw_body)
        except jsonin.BadJSON as error:
            raise Refusal(400, "bad_request",
                          f"The body is not JSON we accept: {error.reason}.") from None
        if not isinstance(value, dict):
            raise Refusal(400, "bad_request", "The body is not a JSON object.")
        return value


def _addresses(values: Any) -> list[str]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        return []
    pairs = getaddresses([str(v) for v in values])
    return [address for _name, address in pairs if "@" in address]


class Inbound:
    """What each provider's view adds to anymail's (a mixin before it)."""

    provider: ClassVar[str]  # InboundMail.provider, and the URL's segment
    # How much bigger the post is than the message it carries: base64 or JSON ≈ 4/3;
    # Mailgun and Postmark send it twice (raw, and parsed: text, HTML, attachments).
    body_factor: ClassVar[float] = 4 / 3

    @classmethod
    def configured(cls) -> bool:
        return bool(settings.ANYMAIL.get("WEBHOOK_SECRET"))

    @classmethod
    def options(cls) -> dict[str, Any]:
        """The anymail view's settings. Its own checks are not run (authenticate_request and
        authenticate replace them); passed rather than read by it from ANYMAIL, so that the
        others' secret never becomes Mailgun's basic auth."""
        secret = settings.ANYMAIL.get("WEBHOOK_SECRET") or []
        return {"webhook_secret": [secret] if isinstance(secret, str) else list(secret)}

    @classmethod
    def body_limit(cls) -> int:
        return int(settings.MAIL_MAX_BYTES * cls.body_factor) + MARGIN_BYTES

    def authenticate_request(self, request: HttpRequest) -> None:
        """Refuse a post whose headers do not prove it is the provider's (basic auth),
        before its body is parsed."""
        given = get_request_basic_auth(request)
        if given is None:
            raise Refusal(401, "unauthenticated", "Credentials are required.", challenge=True)
        allowed = self.options()["webhook_secret"]
        if not any(constant_time_compare(given, secret) for secret in allowed):
            raise Refusal(401, "bad_credentials", "The credentials are wrong.", challenge=True)

    def authenticate(self, posted: Posted) -> None:
        """Refuse a post whose body does not prove it is the provider's (signatures)."""

    def release(self) -> None:
        """The post failed on our side: a signature it spent may be used again (its retry)."""

    def inbound_events(self, posted: Posted) -> list[AnymailInboundEvent]:
        return list(self.parse_events(posted))  # type: ignore[attr-defined]

    def raw_message(self, event: AnymailInboundEvent, posted: Posted) -> bytes:
        return bytes(event.message.as_bytes())

    def envelope(self, event: AnymailInboundEvent, posted: Posted) -> list[str]:
        return _addresses(event.message.envelope_recipient or [])

    def recipients(self, event: AnymailInboundEvent, posted: Posted) -> list[str]:
        envelope = self.envelope(event, posted)
        if envelope:
            return envelope
        message = event.message
        return _addresses([v for name in _DELIVERY_HEADERS for v in message.get_all(name, [])])


class Mailgun(Inbound, MailgunInboundWebhookView):
    """A route's forward() to /mail/inbound/mailgun/mime/ (the URL ending in "mime" has
    Mailgun post the raw message as `body-mime`); the parsed variant is read too."""

    provider = "mailgun"
    body_factor = 2.0

    @classmethod
    def configured(cls) -> bool:
        return bool(settings.ANYMAIL.get("MAILGUN_WEBHOOK_SIGNING_KEY"))

    @classmethod
    def options(cls) -> dict[str, Any]:
        return {"webhook_secret": [],
                "webhook_signing_key": settings.ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"]}

    token_key = ""

    def authenticate_request(self, request: HttpRequest) -> None:
        pass  # the signature is in the form

    def authenticate(self, posted: Posted) -> None:
        timestamp, token, signature = (posted.POST.get(name, "")
                                       for name in ("timestamp", "token", "signature"))
        if not (timestamp and token and signature):
            raise Refusal(403, "unsigned", "The post carries no Mailgun signature.")
        key = str(self.options()["webhook_signing_key"]).encode()
        expected = hmac.new(key, f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
        if not constant_time_compare(signature, expected):
            raise Refusal(403, "bad_signature", "The Mailgun signature is wrong.")
        tolerance = settings.MAIL_WEBHOOK_TOLERANCE
        try:
            fresh = abs(time.time() - int(timestamp)) <= tolerance
        except ValueError:
            fresh = False
        if not fresh:
            raise Refusal(403, "stale_signature", "The Mailgun signature is too old.")
        # The signature covers timestamp and token only: the same ones with another body
        # would pass. A token is spent once (kept as long as it could still be fresh).
        self.token_key = "mail:mailgun-token:" + hashlib.sha256(token.encode()).hexdigest()
        if not cache.add(self.token_key, 1, timeout=2 * tolerance + 60):
            self.token_key = ""
            raise Refusal(403, "replayed_signature", "This Mailgun signature was used already.")

    def release(self) -> None:
        if self.token_key:
            cache.delete(self.token_key)

    def raw_message(self, event: AnymailInboundEvent, posted: Posted) -> bytes:
        return posted.fields.get("body-mime") or super().raw_message(event, posted)

    def envelope(self, event: AnymailInboundEvent, posted: Posted) -> list[str]:
        return _addresses(posted.POST.get("recipient", "").split(","))


class Postmark(Inbound, PostmarkInboundWebhookView):
    """Postmark's inbound JSON; with "Include raw email content in JSON payload" on, the
    message as received (`RawEmail`)."""

    provider = "postmark"
    body_factor = 8 / 3  # the raw message and its parsed parts, both in JSON strings

    def inbound_events(self, posted: Posted) -> list[AnymailInboundEvent]:
        return [self.esp_to_anymail_event(posted.json())]

    def raw_message(self, event: AnymailInboundEvent, posted: Posted) -> bytes:
        if "RawEmail" in event.esp_event:
            return _text(event.esp_event["RawEmail"])
        return super().raw_message(event, posted)

    def envelope(self, event: AnymailInboundEvent, posted: Posted) -> list[str]:
        # One OriginalRecipient however many addresses of the inbound domain the message
        # was for; the others are among To, Cc and Bcc (Postmark's Bcc: delivered to, not
        # named). A company named twice, or posted twice, stores once (intake).
        payload = event.esp_event
        named = [item.get("Email") for key in ("ToFull", "CcFull", "BccFull")
                 for item in (payload.get(key) or []) if isinstance(item, dict)]
        return _addresses([payload.get("OriginalRecipient") or "", *named])


class SendGrid(Inbound, SendGridInboundWebhookView):
    """SendGrid's Inbound Parse; with "POST the raw, full MIME message" on, `email`."""

    provider = "sendgrid"

    def __init__(self, **kwargs: Any) -> None:
        # Not SendGridInboundWebhookView's: it only adds a warning per post that anymail no
        # longer tests against SendGrid (its parsing is unchanged).
        AnymailBaseWebhookView.__init__(self, **kwargs)

    def raw_message(self, event: AnymailInboundEvent, posted: Posted) -> bytes:
        return posted.fields.get("email") or super().raw_message(event, posted)

    def envelope(self, event: AnymailInboundEvent, posted: Posted) -> list[str]:
        try:
            recipients = jsonin.loads(posted.POST.get("envelope", "")).get("to")
        except (jsonin.BadJSON, AttributeError):
            return []
        return _addresses(recipients if isinstance(recipients, list) else [])


class AmazonSES(Inbound, AmazonSESInboundWebhookView):
    """SES receipt rules with an SNS action (Base64 encoding keeps 8-bit mail intact), the
    topic's HTTPS subscription pointing here with the basic auth in its URL."""

    provider = "amazon_ses"

    def __init__(self, **kwargs: Any) -> None:
        # Not AmazonSESBaseWebhookView's: it sets up boto3 (not installed) to confirm
        # subscriptions and fetch S3 objects, neither of which is done here.
        self.auto_confirm_enabled = False
        self.kms_key_id = None
        AnymailBaseWebhookView.__init__(self, **kwargs)

    @classmethod
    def configured(cls) -> bool:
        return super().configured() and bool(settings.MAIL_SES_SNS_CERTIFICATE)

    sns_message: dict[str, Any]

    def authenticate(self, posted: Posted) -> None:
        # After basic auth (authenticate_request), whose 401 challenge SNS waits for.
        message = posted.json()
        for header, key in (("HTTP_X_AMZ_SNS_MESSAGE_TYPE", "Type"),
                            ("HTTP_X_AMZ_SNS_MESSAGE_ID", "MessageId")):
            if posted.META.get(header) != message.get(key):
                raise Refusal(403, "bad_signature", f"The SNS header and {key} differ.")
        topics = settings.MAIL_SES_SNS_TOPIC_ARNS
        if topics and message.get("TopicArn") not in topics:
            raise Refusal(403, "unknown_topic", "The SNS topic is not one of ours.")
        try:
            sns.verify(message, settings.MAIL_SES_SNS_CERTIFICATE)
        except sns.BadSignature as error:
            log.warning("SNS message refused: %s", error)
            raise Refusal(403, "bad_signature", "The SNS signature does not verify.") from None
        sent = parse_datetime(str(message.get("Timestamp", "")))
        if sent is None or sent.tzinfo is None or abs(
                time.time() - sent.timestamp()) > settings.MAIL_WEBHOOK_TOLERANCE:
            raise Refusal(403, "stale_signature", "The SNS message is too old.")
        self.sns_message = message

    def inbound_events(self, posted: Posted) -> list[AnymailInboundEvent]:
        message = self.sns_message
        if message["Type"] == "SubscriptionConfirmation":
            # Confirmed by hand (docs/email.md): the subscription is the operator's act, and
            # confirming here would mean fetching a URL the post names.
            log.warning("SNS subscription to %s waits for confirmation: open %s",
                        message.get("TopicArn"), message.get("SubscribeURL"))
            return []
        if message["Type"] != "Notification":
            return []
        text = message.get("Message")
        if text == "Successfully validated SNS topic for Amazon SES event publishing.":
            return []
        try:
            ses_event = jsonin.loads(text if isinstance(text, str) else "")
        except jsonin.BadJSON as error:
            raise Refusal(400, "bad_request",
                          f"The SNS Message is not JSON: {error.reason}.") from None
        if not isinstance(ses_event, dict):
            raise Refusal(400, "bad_request", "The SNS Message is not a JSON object.")
        return list(self.esp_to_anymail_events(ses_event, message))

    def fetch_s3_chunks(self, bucket_name: str, object_key: str) -> Any:
        raise Refusal(400, "unsupported_action", "The SES receipt rule's action must be SNS "
                      "(with Base64 encoding), not S3.")

    def raw_message(self, event: AnymailInboundEvent, posted: Posted) -> bytes:
        content = event.esp_event.get("content")
        if event.esp_event["receipt"]["action"].get("encoding") == "BASE64":
            return base64.b64decode(str(content))
        return _text(content)

    def envelope(self, event: AnymailInboundEvent, posted: Posted) -> list[str]:
        receipt = event.esp_event.get("receipt")
        return _addresses(receipt.get("recipients") if isinstance(receipt, dict) else [])


class Brevo(Inbound, BrevoInboundWebhookView):
    """Brevo's inbound parsing: a JSON of parsed messages (no raw one), their attachments
    fetched from Brevo's API with BREVO_API_KEY."""

    provider = "brevo"

    @classmethod
    def options(cls) -> dict[str, Any]:
        return {**super().options(), "api_key": settings.ANYMAIL.get("BREVO_API_KEY", "")}

    fetched = 0

    def inbound_events(self, posted: Posted) -> list[AnymailInboundEvent]:
        items = posted.json().get("items")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise Refusal(400, "bad_request", "The post has no list of inbound items.")
        return [self.esp_to_anymail_event(item) for item in items]

    def _fetch_attachment(self, attachment: dict[str, Any]) -> Any:
        # Anymail's download has no timeout and no size bound.
        token = quote(attachment["DownloadToken"], safe="")
        url = urljoin(self.api_url, f"inbound/attachments/{token}")
        limit = settings.MAIL_MAX_BYTES
        try:
            with requests.get(url, headers={"api-key": self.api_key}, stream=True,
                              timeout=ATTACHMENT_TIMEOUT) as response:
                response.raise_for_status()
                content = b""
                for chunk in response.iter_content(64 * 1024):
                    content += chunk
                    if self.fetched + len(content) > limit:
                        raise _too_big()
                content_type = response.headers.get("Content-Type")
        except requests.RequestException as error:
            log.warning("Brevo attachment download failed: %s", error)
            raise Refusal(502, "attachment_unavailable",
                          "An attachment could not be fetched from Brevo; retry later.") from None
        self.fetched += len(content)
        return AnymailInboundMessage.construct_attachment(
            # The response's type carries the charset; the payload's does not.
            content_type=content_type or attachment["ContentType"], content=content,
            filename=attachment.get("Name"), content_id=attachment.get("ContentID"))


PROVIDERS: dict[str, type[Inbound]] = {
    view.provider: view for view in (Mailgun, Postmark, SendGrid, AmazonSES, Brevo)}


def body_limit(path: str) -> int | None:
    """The biggest body a post to `path` may have when it is a provider's webhook."""
    match = _PATH.match(path)
    view = PROVIDERS.get(match.group(1)) if match else None
    return None if view is None else view.body_limit()


@csrf_exempt  # the providers sign their posts; they carry no CSRF token
@login_not_required
def receive(request: HttpRequest, provider: str) -> HttpResponse:
    view_class = PROVIDERS[provider]
    if not view_class.configured():
        return _answer(404, "not_configured", f"The {provider} webhook is not configured here.")
    if request.method == "HEAD":
        return HttpResponse()  # some providers check the URL so when it is saved
    if request.method != "POST":
        return _answer(405, "method_not_allowed", "Only POST is accepted.")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > view_class.body_limit():
        return _answer(413, "too_large", f"A message is at most {settings.MAIL_MAX_BYTES} bytes.")
    view: Any = view_class(**view_class.options())  # type: ignore[call-arg]
    try:
        view.authenticate_request(request)
        posted = Posted(request, request.read())
        view.authenticate(posted)
    except Refusal as refusal:
        log.warning("%s inbound webhook refused: %s", provider, refusal.message)
        return _answer(refusal.status, refusal.code, refusal.message, challenge=refusal.challenge)
    try:
        return _store(view, posted)
    except Refusal as refusal:
        return _answer(refusal.status, refusal.code, refusal.message)
    except BaseException:
        # Our failure, not the post's (the database away): the provider's retry of it
        # must not meet a spent signature.
        view.release()
        raise


def _messages(view: Any, posted: Posted) -> list[tuple[bytes, list[str]]]:
    try:
        events = view.inbound_events(posted)
        return [(view.raw_message(event, posted), view.recipients(event, posted))
                for event in events]
    except Refusal:
        raise
    except Exception as error:
        # Signed, yet not a message anymail reads: a tracking webhook set to this URL, a
        # store() route, a payload of another shape. Logged without the payload (O3).
        log.warning("%s inbound webhook: unreadable post (%s: %s)", view.provider,
                    type(error).__name__, str(error)[:200])
        raise Refusal(400, "bad_request", "The post is not an inbound message.") from None


def _store(view: Any, posted: Posted) -> HttpResponse:
    stored = duplicates = unknown = too_big = 0
    for raw, recipients in _messages(view, posted):
        if len(raw) > settings.MAIL_MAX_BYTES:
            too_big += 1
            continue
        accepted = intake.accept(raw, recipients, via=Via.WEBHOOK, provider=view.provider)
        if not accepted:
            unknown += 1
            log.info("%s inbound webhook: no company's address among %d recipients",
                     view.provider, len(recipients))
        for item in accepted:
            duplicates += item.duplicate
            stored += not item.duplicate
    if too_big:
        refusal = _too_big()
        return _answer(refusal.status, refusal.code, refusal.message)
    return JsonResponse({"stored": stored, "duplicates": duplicates,
                         "for_no_company": unknown})
