"""The team's replies out by e-mail (F2, F6).

An operator's message in a conversation answered by e-mail (it came by mail, from the offline
form, or the team started it by mail) is queued here inside the writer's transaction — one
OutboundMail per event, with the product's own Message-ID — and sent by the worker after the
commit. The mail goes out under the company's address and name, Reply-To the conversation's
reply address, In-Reply-To/References the thread's Message-IDs, text and HTML with the
thread's history quoted below, the reply's attachments attached. Notes never get here.
A contact whose address bounces gets nothing until the address changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from email.headerregistry import Address
from email.utils import make_msgid
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import SafeString, mark_safe
from django_tasks import task

from plug2support.attachments.models import Attachment
from plug2support.contacts.models import Contact
from plug2support.conversations.models import Conversation, Event, EventKind, Sender
from plug2support.conversations.people import display_name

from . import addresses
from .ids import message_key, normalise_message_id
from .intake import accept
from .models import InboundMail, OutboundMail, OutboundStatus, SupportAddress, Via
from .support import default_address
from .threads import subject_tag

log = logging.getLogger(__name__)

HISTORY_MESSAGES = 5
REFERENCES_MAX = 20

# event kind → (conversation, event) -> (subject, text, html): mails that are not a reply of
# the team's, composed by the app above that queues them (satisfaction's resolution mail,
# registered in its AppConfig.ready), sent and threaded like a reply.
Composer = Callable[[Conversation, Event], tuple[str, str, str]]
_composers: dict[str, Composer] = {}


def register_composer(kind: str, composer: Composer) -> None:
    _composers[kind] = composer


def queue_reply(conversation: Conversation, event: Event, *, cc: list[str] | None = None,
                subject: str = "") -> OutboundMail:
    """Called by the operator-message writer (conversations/channels.py) in its transaction."""
    message_id = normalise_message_id(make_msgid(domain=settings.INBOUND_EMAIL_DOMAIN))
    to = conversation.visitor.email
    details: dict[str, object] = {"direction": "out", "to": [to], "cc": cc or [],
                                  "message_id": message_id}
    if subject:
        details["subject"] = subject
    bouncing = _bounces(conversation.company_id, to)
    if bouncing:
        # Said on the message itself, as it is stored: the team must not believe it left.
        details["not_sent"] = (f"Not e-mailed: {to} bounces (a delivery failure report), "
                               "so nothing is sent to it until the address changes.")
    Event.objects.filter(pk=event.pk).update(email=details)
    event.email = details
    if subject and not conversation.subject:
        Conversation.objects.filter(pk=conversation.pk).update(subject=subject[:255])
        conversation.subject = subject[:255]
    outbound = OutboundMail.objects.create(
        company_id=conversation.company_id, conversation=conversation, event=event,
        message_key=message_key(message_id, b""), message_id=message_id,
        to=to, cc=", ".join(cc or []),
        status=OutboundStatus.SUPPRESSED if bouncing else OutboundStatus.QUEUED,
        error=str(details.get("not_sent", "")))
    if not bouncing:
        # The task row is written in this transaction: a worker sees it once the reply
        # commits.
        send_outbound.enqueue(outbound.pk)
    return outbound


def _bounces(company_id: int, address: str) -> bool:
    return Contact.objects.filter(company_id=company_id, email=address,
                                  email_bouncing_since__isnull=False).exists()


def _history(conversation: Conversation, before_seq: int) -> list[dict[str, Any]]:
    events = list(Event.objects.filter(
        conversation=conversation, kind=EventKind.MESSAGE, seq__lt=before_seq,
        staff_only=False).select_related("author").order_by("-seq")[:HISTORY_MESSAGES])
    history = []
    for past in events:
        who = (_sender_name(conversation, past) if past.sender == Sender.VISITOR
               else display_name(past.author))
        history.append({
            "when": date_format(timezone.localtime(past.created_at), "DATETIME_FORMAT"),
            "who": who, "body": past.body, "html": _safe_html(past),
            "quoted": "\n".join(f"> {line}" for line in past.body.splitlines())})
    return history


def _safe_html(event: Event) -> SafeString | None:
    """The team's message as its rendered Markdown for the HTML part (the text part keeps
    the Markdown as typed). Safe to mark so: Event.html is only ever written sanitised
    (knowledge/markdown.py, nh3); None for a customer's mail and older messages."""
    return mark_safe(event.html) if event.html and event.sender == Sender.OPERATOR else None  # noqa: S308


def _sender_name(conversation: Conversation, event: Event) -> str:
    """Who wrote a customer's message: the mail's own From (a colleague in Cc may answer),
    else the visitor's name."""
    sender = (event.email or {}).get("from") or {}
    return str(sender.get("name") or sender.get("address") or conversation.visitor.display_name)


def _references(conversation: Conversation) -> list[str]:
    """The thread's Message-IDs, oldest first: what the customer sent and what we sent."""
    received = InboundMail.objects.filter(conversation=conversation).exclude(message_id="")
    ids = [(m.received_at, m.message_id) for m in received.only("received_at", "message_id")]
    sent = OutboundMail.objects.filter(conversation=conversation,
                                       status=OutboundStatus.SENT)
    ids += [(m.created_at, m.message_id) for m in sent.only("created_at", "message_id")]
    ids.sort()
    return [message_id for _, message_id in ids][-REFERENCES_MAX:]


def _from(support: SupportAddress, operator: str, company: str) -> str:
    name = support.display_name or f"{operator} at {company}"
    return str(Address(display_name=name, addr_spec=support.own_address or support.address))


def compose(outbound: OutboundMail) -> EmailMultiAlternatives:
    event = outbound.event
    conversation = outbound.conversation
    company = conversation.company.name
    support = default_address(conversation.company)
    # A composed notice (the resolution mail) has no author: it is from the team.
    operator = display_name(event.author) if event.author_id else "The team"
    # A chat answered by e-mail (the offline form) has no subject of its own, nor has a
    # mail the team started without one.
    subject = conversation.subject or (
        f"A message from {company}" if conversation.last_seq == event.seq == 1
        else f"{operator} from {company} replied to your message")
    if conversation.subject and InboundMail.objects.filter(conversation=conversation).exists():
        subject = f"Re: {subject}"
    subject = f"{subject} {subject_tag(conversation.pk)}"
    if event.kind in _composers:
        own_subject, text, html = _composers[event.kind](conversation, event)
        subject = f"{own_subject} {subject_tag(conversation.pk)}"
    else:
        history = _history(conversation, event.seq)
        context: dict[str, Any] = {"body": event.body, "html": _safe_html(event),
                                   "operator": operator, "company": company,
                                   "history": history, "subject": subject}
        text = render_to_string("email/operator_reply.txt", context)
        html = render_to_string("email/operator_reply.html", context)
    references = _references(conversation)
    headers = {"Message-ID": f"<{outbound.message_id}>",
               "Reply-To": addresses.reply_address(conversation.pk)}
    if references:
        headers["In-Reply-To"] = f"<{references[-1]}>"
        headers["References"] = " ".join(f"<{r}>" for r in references)
    message = EmailMultiAlternatives(
        subject, text, _from(support, operator, company), [outbound.to],
        cc=[a.strip() for a in outbound.cc.split(",") if a.strip()], headers=headers)
    message.attach_alternative(html, "text/html")
    for attachment in Attachment.objects.filter(event=event).order_by("pk"):
        with attachment.file.open("rb") as file:
            message.attach(attachment.name, file.read(), attachment.content_type)
    return message


@task()
def send_outbound(outbound_id: int) -> None:
    outbound = (OutboundMail.objects.filter(pk=outbound_id, status=OutboundStatus.QUEUED)
                .select_related("event__author", "conversation__company",
                                "conversation__visitor").first())
    if outbound is None:
        return
    mark = OutboundMail.objects.filter(pk=outbound_id)
    if _bounces(outbound.company_id, outbound.to):
        mark.update(status=OutboundStatus.SUPPRESSED,
                    error=f"{outbound.to} bounces: not sent until the address changes")
        return
    message = compose(outbound)
    # Claimed by a conditional UPDATE before it leaves: a second run of the task (or a
    # second worker) sends nothing twice. A crash between the claim and the send leaves it
    # marked sent unsent — the rarer and lesser harm than a customer mailed twice.
    if not OutboundMail.objects.filter(pk=outbound_id, status=OutboundStatus.QUEUED).update(
            status=OutboundStatus.SENT, sent_at=timezone.now()):
        return
    try:
        if addresses.is_inbound_domain(outbound.to):
            # To one of our own addresses (a company writing to itself, the embedded demo):
            # delivered here, not through the outgoing server.
            accept(message.message().as_bytes(), [outbound.to], via=Via.LOCAL)
        else:
            get_connection().send_messages([message])
    except Exception as error:
        mark.update(status=OutboundStatus.FAILED, sent_at=None,
                    error=f"{type(error).__name__}: {error}"[:1000])
        raise
