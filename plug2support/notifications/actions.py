"""The only code that writes notifications. Each is published live to the person's console
sockets after commit, with the new unread count."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from plug2support.accounts.models import User
from plug2support.lib.mail import queue_templated_email
from plug2support.realtime.hub import publish_after_commit
from plug2support.realtime.topics import member_topic

from .models import Notification

RECENT = 30


def notification_payload(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "url": notification.url,
        "created_at": notification.created_at.isoformat(),
        "read": notification.read_at is not None,
    }


def unread_count(user_id: int, company_id: int) -> int:
    return Notification.objects.filter(user_id=user_id, company_id=company_id,
                                       read_at__isnull=True).count()


def recent_for(user_id: int, company_id: int) -> list[dict[str, Any]]:
    return [notification_payload(n) for n in Notification.objects.filter(
        user_id=user_id, company_id=company_id).order_by("-created_at", "-id")[:RECENT]]


def do_notify(*, company_id: int, user_ids: Iterable[int], kind: str, title: str,
              body: str = "", url: str = "", email_template: str | None = None,
              email_context: dict[str, Any] | None = None,
              email_to: Iterable[int] | None = None) -> list[Notification]:
    """A console notification for each person and, with `email_template`, an e-mail too
    (to each of them, or to those of `email_to` only: a mention e-mails the offline)."""
    with transaction.atomic():
        created = [Notification.objects.create(company_id=company_id, user_id=user_id,
                                               kind=kind, title=title, body=body, url=url)
                   for user_id in dict.fromkeys(user_ids)]
        for notification in created:
            publish_after_commit(member_topic(company_id, notification.user_id), {
                "type": "notification", "notification": notification_payload(notification),
                "unread": unread_count(notification.user_id, company_id)})
        if email_template and created:
            recipients = {n.user_id for n in created}
            if email_to is not None:
                recipients &= set(email_to)
            emails = list(User.objects.filter(pk__in=recipients)
                          .values_list("email", flat=True))
            for address in emails:
                queue_templated_email([address], email_template, email_context or {})
    return created


def do_mark_read(user_id: int, company_id: int) -> int:
    """Mark all of the person's notifications in this company read; returns how many."""
    with transaction.atomic():
        count = Notification.objects.filter(user_id=user_id, company_id=company_id,
                                            read_at__isnull=True).update(read_at=timezone.now())
        publish_after_commit(member_topic(company_id, user_id),
                             {"type": "notifications_read", "unread": 0})
    return count
