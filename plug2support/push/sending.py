"""Sending Web Push (M11) from the worker. The writers of alerts call `queue_push` inside
their transaction; after commit the worker keeps those who want the kind by push
(notifications/alerts.py) and have no console focused on that conversation (the `focus`
frame, realtime/presence.py), and posts one encrypted message to each of their browsers.

Private by default: the payload is the title the console's notification already carries
(who did what, at most 80 characters of the customer's first line for a routed
conversation, none otherwise), the url, and the kind — never a message's or note's body.
The push service only ever sees ciphertext (aes128gcm) either way, but the lock screen
does not. A push service error is retried with back-off (RETRY_DELAYS); a subscription it
reports gone (404, 410) is dropped."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task
from pywebpush import WebPushException, webpush
from requests import RequestException

from plug2support.accounts.models import Membership
from plug2support.notifications.alerts import wants_push
from plug2support.realtime.presence import focused_on

from .keys import signer
from .models import PushSubscription

log = logging.getLogger(__name__)

TITLE_MAX = 120
RETRY_DELAYS = (10, 60, 300)  # seconds before the 2nd, 3rd and 4th attempt
GONE = (404, 410)
TTL = 12 * 3600  # a push not delivered in half a day is no longer news


def queue_push(company_id: int, user_ids: Iterable[int] | None, kind: str, title: str, url: str,
               conversation_id: int | None = None) -> None:
    """In the writer's transaction: the push job, enqueued once it commits. `user_ids`
    None: every member of the company, read by the worker (the first message's hot path
    stays at its fixed statements)."""
    people = None if user_ids is None else list(dict.fromkeys(user_ids))
    if people is not None and not people:
        return
    transaction.on_commit(lambda: push_alert.enqueue(
        company_id=company_id, user_ids=people, kind=kind, title=title[:TITLE_MAX], url=url,
        conversation_id=conversation_id))


@task()
def push_alert(company_id: int, user_ids: list[int] | None, kind: str, title: str, url: str,
               conversation_id: int | None = None) -> int:
    """The worker's job: how many browsers were sent the push."""
    if user_ids is None:
        user_ids = list(Membership.objects.filter(company_id=company_id)
                        .values_list("user_id", flat=True))
    people = wants_push(company_id, user_ids, kind)
    if conversation_id is not None and people:
        focused = focused_on(company_id, people, conversation_id)
        people = [u for u in people if u not in focused]
    payload = json.dumps({"title": title, "url": url, "kind": kind})
    sent = 0
    for subscription_id in PushSubscription.objects.filter(
            company_id=company_id, user_id__in=people).values_list("pk", flat=True):
        sent += deliver(subscription_id, payload, 0)
    return sent


@task()
def send_push(subscription_id: int, payload: str, attempt: int) -> int:
    """A retry of one delivery (enqueued by `deliver`)."""
    return deliver(subscription_id, payload, attempt)


def deliver(subscription_id: int, payload: str, attempt: int) -> int:
    """Post the push to one browser: 1 if the push service took it, else 0 (dropped when
    gone, retried later when it failed and attempts remain)."""
    subscription = PushSubscription.objects.filter(pk=subscription_id).first()
    if subscription is None:
        return 0
    info: dict[str, Any] = {"endpoint": subscription.endpoint,
                            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}}
    try:
        webpush(info, payload, vapid_private_key=signer(),
                vapid_claims={"sub": settings.PUSH_CONTACT}, ttl=TTL, timeout=10,
                content_encoding="aes128gcm")
        return 1
    except WebPushException as error:
        status = error.response.status_code if error.response is not None else None
        if status in GONE:
            PushSubscription.objects.filter(pk=subscription_id).delete()
            return 0
        log.warning("push to subscription %s failed (%s)", subscription_id, status)
    except RequestException as error:
        log.warning("push to subscription %s failed: %s", subscription_id, error)
    if attempt < len(RETRY_DELAYS):
        retry = send_push
        if retry.get_backend().supports_defer:
            retry = retry.using(run_after=timezone.now()
                                + timedelta(seconds=RETRY_DELAYS[attempt]))
        retry.enqueue(subscription_id, payload, attempt + 1)
    return 0
