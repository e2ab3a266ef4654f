"""E-mail notifications from templates (text and HTML), sent by the background worker (I1)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django_tasks import task


def render_email(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Render `email/<template>.subject.txt`, `.txt` and `.html` into (subject, text, html)."""
    ctx = {"public_url": settings.PUBLIC_URL, **context}
    subject = render_to_string(f"email/{template}.subject.txt", ctx).strip().splitlines()[0]
    text = render_to_string(f"email/{template}.txt", ctx)
    html = render_to_string(f"email/{template}.html", ctx)
    return subject, text, html


# RFC 3834: every mail sent through here is written by the product, not a person, so that
# an auto-responder does not answer it (and two of them never answer each other, F3).
AUTOMATIC = {"Auto-Submitted": "auto-generated"}


@task()
def send_email(to: list[str], subject: str, text: str, html: str = "") -> None:
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, to,
                                     headers=AUTOMATIC)
    if html:
        message.attach_alternative(html, "text/html")
    message.send()


def queue_templated_email(to: list[str], template: str, context: dict[str, Any]) -> None:
    """Render now (the context may hold model instances), send from the worker after commit."""
    subject, text, html = render_email(template, context)
    send_email.enqueue(to=to, subject=subject, text=text, html=html)
