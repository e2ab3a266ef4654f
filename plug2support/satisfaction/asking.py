"""Asking the visitor (K2): on each resolution, a `rating_asked` event in the conversation
(the widget draws the faces from it) and, for an e-mail conversation, the resolution mail
with the signed link (links.py). Runs in the stage writer's transaction
(conversations/resolutions.py), so a rolled-back resolution asks nothing."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

from plug2support.conversations import channels
from plug2support.conversations.actions.core import publish
from plug2support.conversations.hot_path import append_event
from plug2support.conversations.models import (
    Channel,
    Conversation,
    Event,
    EventKind,
    Sender,
    StageChange,
)
from plug2support.widgets.models import DEFAULT_CSAT_QUESTION, Widget

from . import texts
from .links import LINK_DAYS, rating_path
from .models import RatingChannel, RatingRequest


def on_resolved(conversation: Conversation, change: StageChange) -> None:
    enabled, question = Widget.objects.values_list("csat_enabled", "csat_question").get(
        pk=conversation.widget_id)
    if not enabled:
        return
    by_email = conversation.channel == Channel.EMAIL
    if by_email and not conversation.visitor.email:
        return  # nowhere to send the link
    question = question or DEFAULT_CSAT_QUESTION
    event = append_event(conversation, kind=EventKind.RATING_ASKED, sender=Sender.SYSTEM,
                         body=question)
    details = {"question": question}
    Event.objects.filter(pk=event.pk).update(details=details)
    event.details = details
    RatingRequest.objects.create(
        company_id=conversation.company_id, conversation=conversation, resolution=change,
        channel=RatingChannel.EMAIL if by_email else RatingChannel.WIDGET,
        operator_id=conversation.assignee_id, seq=event.seq, question=question,
        asked_at=event.created_at)
    if by_email:
        # The mail app's outbox queues it on this event (mail/outbox.queue_reply) and
        # composes it with compose_resolution_mail below, threaded like a reply.
        channels.send_reply(conversation, event)
    publish(conversation, event)


def compose_resolution_mail(conversation: Conversation, event: Event) -> tuple[str, str, str]:
    """(subject, text, html) of the resolution mail; the outbox adds the thread's headers.
    The link is signed when the mail is composed (sent), so it is good LINK_DAYS from then."""
    request = RatingRequest.objects.filter(conversation=conversation, seq=event.seq).first()
    company = conversation.company.name
    context: dict[str, Any] = {
        "company": company, "question": event.body, "days": LINK_DAYS,
        "faces": [(score, face, label,
                   f"{settings.PUBLIC_URL}{rating_path(request.pk)}&score={score}"
                   if request else "")
                  for score, (face, label) in texts.FACES.items()],
        "link": f"{settings.PUBLIC_URL}{rating_path(request.pk)}" if request else "",
    }
    subject = texts.MAIL_SUBJECT.format(company=company)
    return (subject, render_to_string("email/resolved.txt", context),
            render_to_string("email/resolved.html", context))
