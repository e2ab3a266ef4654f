"""Snooze (M4): a conversation put away until a time, out of the open views, back when the
time comes (the periodic job `wake_due`) or at once when the customer writes
(`wake_for_customer`, called by the message writers under their row lock).

Snooze is a state beside the stage, not a stage (docs/architecture.md, "Snooze"): the row's
`snoozed_until` and `snoozed_by`. Waking clears them and applies `stages.after_snooze` (a
conversation waiting on the user comes back as needing a response); a move to a closed stage
clears them too (actions/stages.py). Snoozing and waking are team-only events in the history.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.utils import timezone

from plug2support.accounts.models import Membership, User
from plug2support.notifications.actions import do_notify

from .. import stages
from ..hot_path import append_event
from ..models import Conversation, Event, EventKind, Sender, Stage
from ..people import display_name
from .core import ConversationError, lock_conversation, publish
from .stages import auto_move

# The bounds of a snooze: after now, and at most this far away (a typo of a year is refused).
SNOOZE_MAX = timedelta(days=365)
EVENING = time(18, 0)
MORNING = time(9, 0)
PRESETS = ("in_1_hour", "this_evening", "tomorrow_morning", "next_monday")
# The wake job wakes at most this many conversations per transaction batch.
WAKE_BATCH = 200


def company_zone(conversation: Conversation) -> tzinfo:
    """The time zone presets are read in: the conversation's widget's (its business hours'
    zone, widgets.Widget.timezone: the only place a company states one)."""
    try:
        return ZoneInfo(conversation.widget.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _at(day: datetime, at: time, zone: tzinfo) -> datetime:
    return datetime.combine(day.date(), at, zone)


def preset_time(preset: str, now: datetime, zone: tzinfo) -> datetime:
    """A preset's moment in `zone`: in one hour; this evening at 18:00 (tomorrow's once it
    has passed); tomorrow at 9:00; next Monday at 9:00 (a week on when today is Monday)."""
    local = now.astimezone(zone)
    if preset == "in_1_hour":
        return now + timedelta(hours=1)
    if preset == "this_evening":
        evening = _at(local, EVENING, zone)
        return evening if evening > local else _at(local + timedelta(days=1), EVENING, zone)
    if preset == "tomorrow_morning":
        return _at(local + timedelta(days=1), MORNING, zone)
    if preset == "next_monday":
        return _at(local + timedelta(days=7 - local.weekday()), MORNING, zone)
    raise ConversationError("invalid_snooze", f"Unknown preset; one of: {', '.join(PRESETS)}.")


def presets(now: datetime, zone: tzinfo) -> dict[str, str]:
    """Each preset's moment (ISO, UTC offset of the zone), for a menu to show."""
    return {name: preset_time(name, now, zone).astimezone(zone).isoformat() for name in PRESETS}


def check_snooze_until(until: object, preset: object, now: datetime, zone: tzinfo) -> datetime:
    """The moment asked for: a preset's, or `until` (ISO 8601; without an offset, read in the
    company's zone). In the past, or more than a year away: refused."""
    if preset is not None:
        if not isinstance(preset, str) or preset not in PRESETS:
            raise ConversationError("invalid_snooze",
                                    f"Unknown preset; one of: {', '.join(PRESETS)}.")
        moment = preset_time(preset, now, zone)
    else:
        if not isinstance(until, str) or not 1 <= len(until) <= 40:
            raise ConversationError("invalid_snooze", "Give until (an ISO 8601 date and time) "
                                    f"or a preset ({', '.join(PRESETS)}).")
        try:
            # A date and a time: a date alone would mean a midnight nobody chose.
            if "T" not in until.upper() and " " not in until.strip():
                raise ValueError
            moment = datetime.fromisoformat(until.strip())
        except ValueError:
            raise ConversationError("invalid_snooze", "until is not an ISO 8601 date and time, "
                                    "e.g. 2026-12-07T09:00:00+01:00.") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
    if moment <= now:
        raise ConversationError("snooze_in_past", "That time has passed: snooze until a "
                                "time in the future.")
    if moment > now + SNOOZE_MAX:
        raise ConversationError("snooze_too_far", "A snooze is at most a year; pick an "
                                "earlier time.", limit_days=SNOOZE_MAX.days)
    return moment.astimezone(UTC)  # stored and answered in UTC, whatever offset was given


def _label(moment: datetime, zone: tzinfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%a %d %b %Y, %H:%M} ({zone})"


def do_snooze(membership: Membership, conversation: Conversation, *, until: object = None,
              preset: object = None) -> Event:
    """Snooze until a time (a preset or `until`); snoozing again moves the time. Any member
    may, as any member may move a stage; only stages the team works on (stages.SNOOZABLE)."""
    # The input first, from the caller's row (its widget: the zone), so that bad input takes
    # no lock; the stage under the lock.
    zone = company_zone(conversation)
    moment = check_snooze_until(until, preset, timezone.now(), zone)
    with transaction.atomic():
        locked = lock_conversation(conversation.pk)
        if locked.stage not in stages.SNOOZABLE:
            label = dict(Stage.choices)[locked.stage]
            raise ConversationError("not_snoozable", f"A conversation in {label} cannot be "
                                    "snoozed.", stage=locked.stage)
        user = membership.user
        Conversation.objects.filter(pk=locked.pk).update(snoozed_until=moment, snoozed_by=user)
        locked.snoozed_until, locked.snoozed_by = moment, user
        event = append_event(locked, kind=EventKind.SNOOZED, sender=Sender.SYSTEM, author=user,
                             body=f"{display_name(user)} snoozed it until "
                                  f"{_label(moment, zone)}")
        publish(locked, event)
    return event


def _wake(locked: Conversation, why: str, by: User | None) -> Event:
    """Clear the snooze of a locked conversation the caller found snoozed, and record it."""
    Conversation.objects.filter(pk=locked.pk).update(snoozed_until=None, snoozed_by=None)
    locked.snoozed_until, locked.snoozed_by = None, None
    who = f"{display_name(by)} ended the snooze" if by else "The snooze ended"
    return append_event(locked, kind=EventKind.WOKEN, sender=Sender.SYSTEM, author=by,
                        body=f"{who} ({why})")


def do_wake(membership: Membership, conversation: Conversation) -> Event:
    """A person ends a snooze now. The stage stays as it is: they are looking at it."""
    with transaction.atomic():
        locked = lock_conversation(conversation.pk)
        if locked.snoozed_until is None:
            raise ConversationError("not_snoozed", "This conversation is not snoozed.")
        event = _wake(locked, "woken by hand", membership.user)
        publish(locked, event)
    return event


def wake_for_customer(locked: Conversation, why: str = "the customer wrote") -> Event | None:
    """The customer wrote (a visitor's message, an e-mail): a snoozed conversation wakes at
    once, inside the message's transaction, under its row lock. Called on every customer
    message: reads only the row the writer already holds, so an unsnoozed conversation costs
    no statement; the message's own automatic move puts the stage right (WOU → NR)."""
    if locked.snoozed_until is None:
        return None
    return _wake(locked, why, None)


@dataclass(frozen=True)
class _Due:
    pk: int
    snoozed_by_id: int | None
    assignee_id: int | None


def _due(slot: datetime) -> Iterator[list[_Due]]:
    last = 0
    while True:
        batch = [_Due(*row) for row in Conversation.objects.filter(
            snoozed_until__lte=slot, pk__gt=last).order_by("pk").values_list(
                "pk", "snoozed_by_id", "assignee_id")[:WAKE_BATCH]]
        if not batch:
            return
        last = batch[-1].pk
        yield batch


def wake_due(slot: datetime) -> dict[str, int]:
    """The periodic job (ops/periodic.py, every minute): wake every conversation snoozed until
    `slot` or before. Each wakes exactly once however many workers run this at once: it is
    woken only by the one conditional UPDATE that finds it still due (0 rows: a customer, a
    person or another worker was first). A re-run for the same slot finds nothing."""
    woken = 0
    for batch in _due(slot):
        for due in batch:
            with transaction.atomic():
                if not Conversation.objects.filter(pk=due.pk, snoozed_until__lte=slot).update(
                        snoozed_until=None, snoozed_by=None):
                    continue
                locked = lock_conversation(due.pk)
                event = append_event(locked, kind=EventKind.WOKEN, sender=Sender.SYSTEM,
                                     body="The snooze ended (its time came)")
                moved = auto_move(locked, stages.after_snooze(locked.stage),
                                  "the snooze ended")
                # Whoever serves it (else who snoozed it) hears that it is back.
                person = due.assignee_id or due.snoozed_by_id
                if person is not None and Membership.objects.filter(
                        company_id=locked.company_id, user_id=person).exists():
                    do_notify(company_id=locked.company_id, user_ids=[person], kind="snooze_ended",
                              title=f"Back from snooze: {locked.visitor.display_name}",
                              url=f"/inbox/{locked.pk}/")
                publish(locked, *[e for e in (event, moved) if e is not None])
                woken += 1
    return {"woken": woken}
