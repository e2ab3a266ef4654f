"""Alerts by e-mail (C1, issue 18 point 8): each person chooses, per kind of event, whether
they get an e-mail (notifications/alerts.py, the Alerts page), sent only while they are not
online in the console — which then shows the event itself.

- A mention, an assignment (routing, a hand-over, an accepted transfer) and a transfer
  request are rare: the writer that makes them e-mails at once (`emailed` picks who).
- A new conversation in the pool and a customer's reply in a conversation someone serves
  come with every visitor message: they are not looked at on the message's way. Once a
  minute, `email_alerts` reads the minute's visitor messages (one statement on their index,
  `visitor_messages_by_time`) and sends each person one e-mail listing theirs. A minute in
  which no worker ran is not e-mailed afterwards (`every_minute` slots do not catch up).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from plug2support.accounts.models import Membership
from plug2support.lib.mail import queue_templated_email
from plug2support.notifications.alerts import wants_email
from plug2support.push.sending import queue_push
from plug2support.realtime.presence import online_members

from .models import Event, EventKind, Sender, Stage

# The notification kinds the writers use, as the Alerts page names them.
ALERT_KIND = {"routed": "assigned", "reassigned": "assigned", "transfer_accepted": "assigned",
              "transfer_request": "transfer_request", "mention": "mention"}


def emailed(company_id: int, user_ids: Iterable[int], kind: str) -> list[int]:
    """Of these people, those not online who want this kind of alert by e-mail."""
    people = list(dict.fromkeys(user_ids))
    if not people:
        return []
    online = set(online_members(company_id).filter(user_id__in=people)
                 .values_list("user_id", flat=True))
    offline = [u for u in people if u not in online]
    return wants_email(company_id, offline, ALERT_KIND.get(kind, kind))


def alert_email(company_id: int, user_ids: Iterable[int], kind: str, title: str,
                url: str) -> dict[str, Any]:
    """do_notify's e-mail arguments for a writer's rare event: the `alert` mail to whoever
    of `user_ids` is not online and wants this kind by e-mail. Queues the Web Push too
    (sent after commit to those who want it, push/sending.py)."""
    queue_push(company_id, user_ids, ALERT_KIND.get(kind, kind), title, url,
               _conversation_of(url))
    return {"email_template": "alert", "email_to": emailed(company_id, user_ids, kind),
            "email_context": {"title": title, "url": url}}


def _conversation_of(url: str) -> int | None:
    """The conversation an alert's url (/inbox/<id>/...) names, for the focus check."""
    parts = url.split("/")
    return int(parts[2]) if len(parts) > 2 and parts[1] == "inbox" and parts[2].isdigit() \
        else None


def push_for_visitor_message(conversation: Any, first: bool) -> None:
    """A visitor's message, in its transaction: a new conversation left in the pool pushes
    every member, a reply in an assigned one its assignee (no preview: private by default)."""
    url = f"/inbox/{conversation.pk}/"
    if first and conversation.assignee_id is None and conversation.group_id is None:
        queue_push(conversation.company_id, None, "new_conversation",
                   "A new conversation is waiting", url, conversation.pk)
    elif not first and conversation.assignee_id is not None:
        queue_push(conversation.company_id, [conversation.assignee_id], "customer_reply",
                   "A customer replied", url, conversation.pk)


def email_alerts(slot: datetime) -> dict[str, int]:
    """The periodic job (every minute): the minute's new conversations in the pool and
    customers' replies, e-mailed to whoever asked and is not online."""
    since = slot - timedelta(minutes=1)
    rows = (Event.objects.filter(kind=EventKind.MESSAGE, sender=Sender.VISITOR,
                                 created_at__gt=since, created_at__lte=slot)
            .exclude(conversation__stage=Stage.SUSPENDED)
            .values_list("conversation_id", "seq", "conversation__company_id",
                         "conversation__assignee_id", "conversation__preview")
            .order_by("created_at"))
    new: dict[int, dict[int, str]] = defaultdict(dict)  # company → conversation → preview
    replies: dict[tuple[int, int], dict[int, str]] = defaultdict(dict)  # (company, person)
    for conversation_id, seq, company_id, assignee_id, preview in rows:
        if seq == 1 and assignee_id is None:
            new[company_id][conversation_id] = preview
        elif seq > 1 and assignee_id is not None:
            replies[(company_id, assignee_id)][conversation_id] = preview
    items: dict[tuple[int, int], list[dict[str, str]]] = defaultdict(list)
    for company_id, conversations in new.items():
        members = Membership.objects.filter(company_id=company_id).values_list("user_id",
                                                                               flat=True)
        for user_id in emailed(company_id, members, "new_conversation"):
            items[(company_id, user_id)] += [_item("A new conversation", pk, preview)
                                             for pk, preview in conversations.items()]
    for (company_id, assignee_id), conversations in replies.items():
        for user_id in emailed(company_id, [assignee_id], "customer_reply"):
            items[(company_id, user_id)] += [_item("A customer replied", pk, preview)
                                             for pk, preview in conversations.items()]
    sent = 0
    emails = dict(Membership.objects.filter(user_id__in={u for _c, u in items})
                  .values_list("user_id", "user__email"))
    for (_company_id, user_id), listed in items.items():
        if user_id in emails:
            queue_templated_email([emails[user_id]], "alert_digest", {"items": listed})
            sent += 1
    return {"emails": sent}


def _item(what: str, conversation_id: int, preview: str) -> dict[str, Any]:
    return {"what": what, "preview": preview[:200], "url": f"/inbox/{conversation_id}/"}
