"""From a stored message to the inbox (F1–F3, F5): the worker parses it, drops automatic
mail (it creates nothing and gets no answer: no loops), records bounces on the contacts,
recognises the settings page's test mail, and threads the rest into a conversation.

Each stored message is processed once: its row moves from Queued (or Held) under a row
lock (queue.py drains the Queued ones); a message kept while the company was blocked (H6)
is Held and processed again by the periodic `release_held` once the block lifts — nothing
is lost and nothing is sent meanwhile.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from plug2support.accounts.policies import communication_block
from plug2support.attachments.actions import AttachmentError, do_store_mail_file
from plug2support.contacts.actions import do_claim_email
from plug2support.contacts.models import Contact, VisitorContact
from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.email import IncomingEmail, do_receive_email
from plug2support.widgets.models import Visitor, hash_token

from . import addresses
from .ids import message_key, normalise_message_id
from .models import InboundMail, InboundStatus, OutboundMail, SupportAddress
from .parsing import ParsedMail, parse
from .threads import find_conversation

log = logging.getLogger(__name__)

TEST_SUBJECT = re.compile(r"\[Plug2Support test ([0-9a-f]{16,32})\]")
OPENED = "opened a conversation"
MAIL_FILES_MAX = 10


def process_locked(mail: InboundMail) -> None:
    """Process `mail`, whose row the caller holds locked in its transaction (queue.py), and
    mark it: Processed, Ignored, Bounce, Test, Held, or Failed with the reason."""
    try:
        with transaction.atomic():  # a savepoint: a failure leaves nothing half-written
            status, reason = _process(mail)
    except Exception as error:  # noqa: BLE001 (a message that cannot be processed stays, marked)
        log.exception("inbound mail %s could not be processed", mail.pk)
        status, reason = InboundStatus.FAILED, f"{type(error).__name__}"
    InboundMail.objects.filter(pk=mail.pk).update(
        status=status, reason=reason[:1000], conversation=mail.conversation_id,
        event=mail.event_id, processed_at=timezone.now())


def locked_inbound(*statuses: str) -> QuerySet[InboundMail]:
    """Stored mail in these statuses, each row locked for the caller's transaction (rows
    another worker holds are skipped), with what processing reads of its address."""
    return (InboundMail.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status__in=statuses).select_related("address__widget__company"))


def process_now(inbound_id: int) -> bool:
    """Process a Queued or Held message now; False if another worker has it or did."""
    with transaction.atomic():
        mail = (locked_inbound(InboundStatus.QUEUED, InboundStatus.HELD)
                .filter(pk=inbound_id).first())
        if mail is None:
            return False
        process_locked(mail)
    return True


def _support_of(mail: InboundMail) -> SupportAddress | None:
    if mail.address is not None:
        return mail.address
    return (SupportAddress.objects.filter(company_id=mail.company_id)
            .select_related("widget__company").order_by("-is_default", "pk").first())


def _process(mail: InboundMail) -> tuple[str, str]:
    parsed = parse(bytes(mail.raw), authserv_ids=settings.MAIL_AUTHSERV_IDS)
    support = _support_of(mail)
    if support is None:
        return InboundStatus.FAILED, "the company has no support address"
    # The settings page's test mail first: it is automatic mail (Auto-Submitted) by design.
    test = TEST_SUBJECT.search(parsed.subject)
    if test is not None and _test_arrived(support, test.group(1)):
        return InboundStatus.TEST, "the settings page's test mail"
    if parsed.is_bounce:
        returned = _returned_to(mail, parsed.bounced)
        if not returned:
            return InboundStatus.BOUNCE, "names no mail we sent: ignored"
        marked = mark_bouncing(mail.company_id, returned, parsed.subject)
        return InboundStatus.BOUNCE, f"bouncing: {', '.join(marked) or 'no known contact'}"
    if parsed.automatic:
        return InboundStatus.IGNORED, parsed.automatic
    sender = parsed.from_address
    if not sender:
        return InboundStatus.IGNORED, "no sender to answer"
    if addresses.is_inbound_domain(sender):
        # Another company of ours writing to this one is a customer like any; this
        # company's own address (or a reply address of its own) come back would be a loop.
        found = addresses.resolve(sender)
        if found is None or found.address.company_id == mail.company_id:
            return InboundStatus.IGNORED, "our own mail come back"
    if communication_block(mail.company_id) is not None:
        return InboundStatus.HELD, "the company is blocked (H6): processed when it lifts"
    conversation_id = find_conversation(
        mail.company_id, recipients=[mail.recipient, *parsed.to, *parsed.cc],
        in_reply_to=parsed.in_reply_to, references=parsed.references,
        subject=parsed.subject, sender=sender)
    visitor, new_visitor = _visitor_for(support, sender, conversation_id)
    if new_visitor or not VisitorContact.objects.filter(visitor=visitor,
                                                        contact__email=sender).exists():
        # A visitor new to this address becomes its contact (the org by domain); one already
        # linked to it is left as it is — the claim's eight statements spared a message.
        do_claim_email(visitor, sender, parsed.from_name[:150] or None,
                       new_visitor=new_visitor)
    details = _details(parsed, unverified=_claims_verified_contact(mail.company_id, sender,
                                                                   parsed))
    ids, skipped = _store_files(visitor, parsed)
    if skipped:
        details["skipped_files"] = skipped
    new = conversation_id is None
    incoming = IncomingEmail(
        text=parsed.text, client_id=mail.message_key, subject=_clean_subject(parsed.subject),
        details=details, attachment_ids=ids,
        suspend_reason=_too_many_new(mail, sender) if new else "")
    try:
        posted = do_receive_email(visitor, incoming, conversation_id=conversation_id)
    except ConversationError as error:
        if error.code == "chat_unavailable":
            return InboundStatus.HELD, "the company is blocked (H6): processed when it lifts"
        raise
    mail.conversation_id = posted.event.conversation_id
    mail.event_id = posted.event.pk
    opened = posted.event.seq == 1 and not posted.duplicate
    return InboundStatus.PROCESSED, OPENED if opened else "continued a conversation"


def _test_arrived(support: SupportAddress, token: str) -> bool:
    return SupportAddress.objects.filter(
        company_id=support.company_id, test_token=token).update(
        test_received_at=timezone.now()) > 0


def _visitor_for(support: SupportAddress, sender: str,
                 conversation_id: int | None) -> tuple[Visitor, bool]:
    """The conversation's visitor when threaded; else the newest visitor of the company with
    that address; else a new one nobody's browser holds (reached by e-mail only), and
    whether it is new."""
    if conversation_id is not None:
        visitor = (Visitor.objects.select_related("widget__company")
                   .filter(conversations__pk=conversation_id).first())
        if visitor is not None:
            return visitor, False
    visitor = (Visitor.objects.select_related("widget__company")
               .filter(widget__company_id=support.company_id, email=sender)
               .order_by("-created_at", "-pk").first())
    if visitor is not None:
        return visitor, False
    visitor = Visitor.objects.create(widget=support.widget, email=sender, placeholder=True,
                                     token_hash=hash_token(secrets.token_urlsafe(32)))
    visitor.widget = support.widget
    return visitor, True


def _clean_subject(subject: str) -> str:
    # Replies' prefixes go; a forward's ("Fwd:") says what the mail is and stays.
    subject = re.sub(r"^\s*((re|aw|sv|réf|antw)\s*:\s*)+", "", subject, flags=re.IGNORECASE)
    return re.sub(r"\s*\[#\d{1,18}\]", "", subject).strip()[:255] or "(no subject)"


def _claims_verified_contact(company_id: int, sender: str, parsed: ParsedMail) -> bool:
    """F3: From names a verified contact's address, and the receiving server's checks
    (SPF/DKIM/DMARC) say the mail is not from that domain: show it as unverified."""
    auth = parsed.authentication
    if not auth.checked or auth.passed:
        return False
    return Contact.objects.filter(company_id=company_id, email=sender, verified=True).exists()


def _details(parsed: ParsedMail, *, unverified: bool) -> dict[str, Any]:
    return {
        "direction": "in",
        "subject": parsed.subject[:500],
        "from": {"address": parsed.from_address, "name": parsed.from_name[:150]},
        "to": parsed.to[:50], "cc": parsed.cc[:50],
        "message_id": parsed.message_id[:998],
        "html": parsed.html,
        "quoted": parsed.quoted,
        "unverified": unverified,
        "authentication": parsed.authentication.summary[:300],
        "warnings": parsed.warnings[:10],
    }


def _store_files(visitor: Visitor, parsed: ParsedMail) -> tuple[list[object], list[str]]:
    """The mail's attachments and inline images as chat attachments (same checks); what is
    refused is named on the message rather than lost silently."""
    ids: list[object] = []
    skipped: list[str] = []
    for n, file in enumerate(parsed.files):
        if len(ids) >= MAIL_FILES_MAX:
            left = len(parsed.files) - n
            skipped.append(f"{left} more file{'s' if left > 1 else ''}: at most "
                           f"{MAIL_FILES_MAX} are kept from one mail")
            break
        try:
            ids.append(do_store_mail_file(visitor, file.name, file.content).pk)
        except AttachmentError as error:
            # The reason's first sentence: the list of allowed types once is enough.
            skipped.append(f"{file.name}: {error.message.split('. Allowed')[0].rstrip('.')}")
    return ids, skipped


def _too_many_new(mail: InboundMail, sender: str) -> str:
    """F3: a sender opening more than the limit of conversations an hour (a loop with an
    auto-responder we did not recognise, a flood) has the next ones land in Suspended; so do
    all of a company's new e-mail conversations past its own hourly limit (a flood from
    ever new addresses), for the team to release what is real."""
    hour_ago = timezone.now() - timedelta(hours=1)
    opened = (InboundMail.objects.filter(company_id=mail.company_id, reason=OPENED,
                                         received_at__gte=hour_ago)
              .aggregate(sender=Count("pk", filter=Q(sender=sender)), company=Count("pk")))
    limit = settings.MAIL_NEW_CONVERSATIONS_PER_SENDER_HOUR
    if opened["sender"] >= limit:
        return f"{sender} opened more than {limit} conversations within an hour"
    company_limit = settings.MAIL_NEW_CONVERSATIONS_PER_COMPANY_HOUR
    if opened["company"] >= company_limit:
        return (f"more than {company_limit} new e-mail conversations within an hour: "
                "a flood is suspected")
    return ""


_OUR_ID = re.compile(rb"<([^<>\s@]{1,200}@[^<>\s]{1,253})>")


def _returned_to(mail: InboundMail, bounced: list[str]) -> list[str]:
    """The failed addresses of a delivery report that are about mail we sent them: the
    report returns our message's headers (or names its Message-ID). Anyone can write a
    report; only one about our own mail may stop the company writing to a customer."""
    domain = ("@" + settings.INBOUND_EMAIL_DOMAIN).encode()
    ours = {match.group(1).decode("utf-8", "replace")
            for match in _OUR_ID.finditer(bytes(mail.raw)[:1_000_000])
            if match.group(1).lower().endswith(domain)}
    if not ours or not bounced:
        return []
    keys = [message_key(normalise_message_id(i), b"") for i in ours]
    return sorted(set(OutboundMail.objects.filter(
        company_id=mail.company_id, message_key__in=keys, to__in=bounced)
        .values_list("to", flat=True)))


def mark_bouncing(company_id: int, bounced: list[str], reason: str) -> list[str]:
    """F6: the contacts at these addresses bounce; nothing is sent to them until the address
    changes."""
    found = list(Contact.objects.filter(company_id=company_id, email__in=bounced,
                                        email_bouncing_since__isnull=True)
                 .values_list("email", flat=True))
    Contact.objects.filter(company_id=company_id, email__in=bounced).update(
        email_bouncing_since=timezone.now(), email_bounce_reason=reason[:300])
    return sorted(set(found))


def release_held(slot: datetime) -> dict[str, int]:
    """The periodic job: mail kept while its company was blocked, now that it is not."""
    released = 0
    held = (InboundMail.objects.filter(status=InboundStatus.HELD)
            .values_list("pk", "company_id").order_by("pk")[:1000])
    blocked: dict[int, bool] = {}
    for pk, company_id in held:
        if company_id not in blocked:
            blocked[company_id] = communication_block(company_id) is not None
        if not blocked[company_id] and process_now(pk):
            released += 1
    return {"released": released}


def forget_raw(slot: datetime) -> dict[str, int]:
    """The daily job: raw messages older than the retention are emptied (F5); what the
    conversation shows of them stays."""
    cutoff = slot - timedelta(days=settings.MAIL_RAW_RETENTION_DAYS)
    emptied = (InboundMail.objects.filter(received_at__lt=cutoff).exclude(raw=b"")
               .exclude(status=InboundStatus.HELD).update(raw=b""))
    return {"emptied": emptied}
