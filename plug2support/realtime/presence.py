"""Presence (C5) and the widget's availability (C6).

An operator's presence is what they chose (online / away / offline) while at least one of
their console sockets is open anywhere, or closed less than PRESENCE_GRACE_SECONDS ago (a
page reload does not flap the widget); after that they are "away" until
PRESENCE_OFFLINE_SECONDS have passed, then "offline". A widget is live when its business
hours are open and at least one operator of the company is online.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from plug2support.accounts.models import Membership, Status
from plug2support.accounts.policies import communication_block
from plug2support.lib.errors import Refused

from .hub import hub
from .models import ConsoleConnection
from .topics import availability_topic, company_topic

if TYPE_CHECKING:  # presence sits below widgets (docs/architecture.md, Layers)
    from plug2support.widgets.hours import Schedule

PROCESS = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _fresh_after(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.PRESENCE_STALE_SECONDS)


def _connected(now: datetime) -> Q:
    live = ConsoleConnection.objects.filter(membership=OuterRef("pk"),
                                            seen_at__gte=_fresh_after(now))
    grace = now - timedelta(seconds=settings.PRESENCE_GRACE_SECONDS)
    return Q(Exists(live)) | Q(last_seen_at__gte=grace)


def online_members(company_id: int, now: datetime | None = None) -> QuerySet[Membership]:
    now = now or timezone.now()
    return Membership.objects.filter(company_id=company_id, status=Status.ONLINE).filter(
        _connected(now))


def presence_of(company_id: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """Each member's effective status, for the console's team list."""
    now = now or timezone.now()
    connected = set(Membership.objects.filter(company_id=company_id).filter(_connected(now))
                    .values_list("pk", flat=True))
    offline_after = now - timedelta(seconds=settings.PRESENCE_OFFLINE_SECONDS)
    result = []
    for member in Membership.objects.filter(company_id=company_id).select_related("user"):
        status: str
        if member.status == Status.OFFLINE:
            status = Status.OFFLINE
        elif member.pk in connected:
            status = member.status
        elif member.last_seen_at and member.last_seen_at >= offline_after:
            status = Status.AWAY
        else:
            status = Status.OFFLINE
        result.append({"user": {"id": member.user_id,
                                "name": member.user.name or member.user.email},
                       "status": str(status)})
    return result


def operators_online(company_id: int) -> bool:
    return online_members(company_id).exists()


def availability_of(company_id: int) -> tuple[bool, bool]:
    """Whether an operator is online, and whether the company's chat is blocked (H6)."""
    return operators_online(company_id), communication_block(company_id) is not None


def availability_frame(schedule: Schedule, operators_online: bool,
                       blocked: bool = False) -> dict[str, Any]:
    """Live chat when the business is open and someone is online; else the offline form;
    "unavailable" (no form either) while the company's communication is blocked (H6)."""
    now = timezone.now()
    is_open = schedule.is_open(now)
    change = schedule.next_change(now, days=8)
    return {"type": "availability", "availability": {
        "mode": "unavailable" if blocked else "live" if is_open and operators_online
        else "offline",
        "open": is_open,
        "operators_online": operators_online,
        "next_change": change.astimezone(UTC).isoformat() if change else None,
    }}


def publish_availability(company_id: int, hours_changed: int | None = None) -> None:
    """Tell the company's widgets and consoles. Cheap enough to call on every change.
    `hours_changed`: the widget whose business hours were just saved (its sockets reload)."""
    online = operators_online(company_id)
    blocked = communication_block(company_id)
    hub.publish(availability_topic(company_id),
                {"type": "_availability", "operators_online": online,
                 "blocked": blocked is not None, "hours_changed": hours_changed})
    # The block too: the inbox must not say "Widgets are live" while they refuse chat (H6).
    hub.publish(company_topic(company_id),
                {"type": "presence", "operators_online": online, "blocked": blocked,
                 "members": presence_of(company_id)})


def connect(membership_id: int) -> str:
    row = ConsoleConnection.objects.create(membership_id=membership_id, process=PROCESS)
    return str(row.pk)


def disconnect(connection_id: str, membership_id: int) -> None:
    ConsoleConnection.objects.filter(pk=connection_id).delete()
    Membership.objects.filter(pk=membership_id).update(last_seen_at=timezone.now())


def set_focus(connection_id: str, conversation_id: int | None) -> None:
    """The `focus` frame: what this console shows while focused (None: not focused)."""
    ConsoleConnection.objects.filter(pk=connection_id).update(
        focused_conversation=conversation_id)


def focused_on(company_id: int, user_ids: list[int], conversation_id: int) -> set[int]:
    """Of these members, those with a live console focused on that conversation."""
    return set(ConsoleConnection.objects.filter(
        membership__company_id=company_id, membership__user_id__in=user_ids,
        focused_conversation=conversation_id, seen_at__gte=_fresh_after(timezone.now()))
        .values_list("membership__user_id", flat=True))


def heartbeat() -> None:
    """Keep this process's rows fresh, and forget rows of processes that died."""
    now = timezone.now()
    ConsoleConnection.objects.filter(process=PROCESS).update(seen_at=now)
    ConsoleConnection.objects.filter(seen_at__lt=_fresh_after(now)).delete()


def start_presence_heartbeat() -> None:
    """A small loop per web process: refresh this process's rows, drop dead processes'."""
    from asgiref.sync import sync_to_async

    async def beat() -> None:
        while True:
            await asyncio.sleep(settings.PRESENCE_HEARTBEAT_SECONDS)
            try:
                await sync_to_async(heartbeat)()
            except Exception:  # the database is away: the next beat tries again
                logging.getLogger(__name__).exception("presence heartbeat failed")

    asyncio.get_running_loop().create_task(beat())


def do_set_status(membership: Membership, status: str) -> None:
    if status not in Status.values:
        raise Refused("invalid_status", "status must be online, away or offline.")
    Membership.objects.filter(pk=membership.pk).update(status=status)
    membership.status = status
