"""Time to initial response and resolution time, from the stage history (D6). The rules are
in docs/metrics.md; keep the two in step."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .models import Conversation, Stage, StageChange


@dataclass(frozen=True)
class Metrics:
    started_at: datetime | None  # when the clock started (None: still Suspended)
    first_response: timedelta | None  # None: no first response yet
    resolution: timedelta | None  # None: not resolved now
    # When each was measured to, and the Suspended spans not counted (reports measure the
    # same spans in business hours: reports/timing.py).
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    suspended: tuple[tuple[datetime, datetime], ...] = ()

    def as_dict(self) -> dict[str, float | None]:
        return {
            "first_response_seconds": _seconds(self.first_response),
            "resolution_seconds": _seconds(self.resolution),
        }


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def compute(created_at: datetime, created_stage: str,
            changes: Sequence[StageChange]) -> Metrics:
    """`changes` in time order. The clock starts when the conversation is first in New (at
    creation, or when a reviewer moves it out of Suspended); time spent in Suspended after
    that does not count; the first response is the first New → Waiting on user move; the
    resolution is the last move into Resolved, if the conversation is Resolved or Archived
    from Resolved now (a reopen stops it until it is resolved again)."""
    started = created_at if created_stage == Stage.NEW else None
    first_response = None
    resolved_at = None
    suspended_since: datetime | None = None
    paused = timedelta()
    spans: list[tuple[datetime, datetime]] = []
    first_response_at = None
    stage = created_stage
    for change in changes:
        if started is None and change.to_stage == Stage.NEW:
            started = change.at
        elif started is not None:
            if change.to_stage == Stage.SUSPENDED:
                suspended_since = change.at
            elif stage == Stage.SUSPENDED and suspended_since is not None:
                paused += change.at - suspended_since
                spans.append((suspended_since, change.at))
                suspended_since = None
        if (first_response is None and started is not None
                and change.from_stage == Stage.NEW and change.to_stage == Stage.WAITING_ON_USER):
            first_response = change.at - started - paused
            first_response_at = change.at
        if change.to_stage == Stage.RESOLVED:
            resolved_at = (change.at, paused)
        elif change.to_stage != Stage.ARCHIVED:
            resolved_at = None  # reopened (or moved on) since
        stage = change.to_stage
    resolution = None
    resolved_when = None
    if resolved_at is not None and started is not None:
        resolved_when, paused_then = resolved_at
        resolution = resolved_when - started - paused_then
    return Metrics(started_at=started, first_response=first_response, resolution=resolution,
                   first_response_at=first_response_at, resolved_at=resolved_when,
                   suspended=tuple(spans))


def for_conversation(conversation: object) -> Metrics:
    assert isinstance(conversation, Conversation)
    return for_conversations([conversation])[conversation.pk]


def for_conversations(conversations: Iterable[Conversation]) -> dict[int, Metrics]:
    """The metrics of each of these conversations, from one query of their stage histories."""
    by_id = {conversation.pk: conversation for conversation in conversations}
    changes: dict[int, list[StageChange]] = {pk: [] for pk in by_id}
    for change in StageChange.objects.filter(conversation_id__in=by_id).order_by(
            "conversation_id", "at", "id"):
        changes[change.conversation_id].append(change)
    metrics = {}
    for pk, conversation in by_id.items():
        history = changes[pk]
        created_stage = history[0].from_stage if history else conversation.stage
        metrics[pk] = compute(conversation.created_at, created_stage, history)
    return metrics
