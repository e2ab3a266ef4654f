"""Stages (D1–D6): manual moves checked against the table, and the automatic ones."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from plug2support.accounts.models import Membership, User

from .. import lifecycle, resolutions, stages
from ..hot_path import append_event
from ..models import Conversation, Event, EventKind, Sender, Stage, StageChange
from ..people import display_name
from .core import ConversationError, lock_conversation, publish


def _record_move(conversation: Conversation, to: str, by: User | None, why: str) -> Event:
    """The history row, the conversation's new stage in memory, and a team-only event."""
    from_stage = conversation.stage
    now = timezone.now()
    change = StageChange.objects.create(conversation=conversation,
                                        company_id=conversation.company_id,
                                        from_stage=from_stage, to_stage=to, at=now, by=by)
    conversation.last_stage_change = change  # type: ignore[attr-defined]
    conversation.stage = to
    lifecycle.stage_changed(conversation, from_stage, to, now)  # the SLA clocks (K3)
    if to in stages.GROUPS["closed"] and conversation.snoozed_until is not None:
        # M4: a closed conversation is not waiting to come back; its snooze ends with it.
        Conversation.objects.filter(pk=conversation.pk).update(snoozed_until=None,
                                                               snoozed_by=None)
        conversation.snoozed_until, conversation.snoozed_by = None, None
    labels = dict(Stage.choices)
    who = display_name(by) if by else "Automatically"
    return append_event(conversation, kind=EventKind.STAGE_CHANGED, sender=Sender.SYSTEM, author=by,
                        body=f"{who}: {labels[from_stage]} → {labels[to]} ({why})")


def auto_move(conversation: Conversation, to: str | None, why: str) -> Event | None:
    """An automatic move inside the caller's transaction (the row is already locked)."""
    if to is None or to == conversation.stage:
        return None
    Conversation.objects.filter(pk=conversation.pk).update(stage=to)
    return _record_move(conversation, to, None, why)


def do_move_stage(membership: Membership, conversation: Conversation, to: object,
                  expected: object = None) -> Event:
    """A manual move, checked against the table. `expected` is the stage the operator saw:
    of two people moving the same conversation at once, only the first one wins."""
    labels = dict(Stage.choices)
    if not isinstance(to, str) or to not in labels:
        raise ConversationError("unknown_stage", f"Unknown stage; one of: {', '.join(labels)}.")
    with transaction.atomic():
        current = Conversation.objects.values_list("stage", flat=True).get(pk=conversation.pk)
        seen = expected if isinstance(expected, str) and expected in labels else current
        if seen != current:
            raise ConversationError("stage_conflict", f"Someone else just moved it to "
                                    f"{labels[current]}.", stage=current)
        if not stages.can_move(current, to):
            allowed = sorted(labels[s] for s in stages.MANUAL_MOVES[current])
            raise ConversationError(
                "illegal_move", f"A conversation in {labels[current]} cannot move to "
                f"{labels[to]}." + (f" Allowed: {', '.join(allowed)}." if allowed else
                                    " It is final."), stage=current)
        # Conditional: 0 rows means someone moved it between our read and this write.
        if not Conversation.objects.filter(pk=conversation.pk, stage=current).update(stage=to):
            latest = Conversation.objects.values_list("stage", flat=True).get(pk=conversation.pk)
            raise ConversationError("stage_conflict", f"Someone else just moved it to "
                                    f"{labels[latest]}.", stage=latest)
        locked = lock_conversation(conversation.pk)
        locked.stage = current
        event = _record_move(locked, to, membership.user, "moved by hand")
        publish(locked, event)
        if to == Stage.RESOLVED:
            # K2: the rating question (satisfaction/asking.py), in this transaction.
            resolutions.resolved(locked, locked.last_stage_change)  # type: ignore[attr-defined]
    return event
