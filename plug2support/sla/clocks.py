"""The service-target clocks (K3): started, paused, resumed and stopped from a conversation's
start and stage changes (conversations/lifecycle.py calls `on_open` and `on_stage` inside
the writer's transaction). The rules, written down in docs/metrics.md "Service targets":

- which stages a target's clock counts in (`COUNTS`): first response in New; next response
  in Needs response; resolution in New and Needs response — Waiting on user and Hold pause
  it, and Suspended pauses every clock (its time is not counted at all);
- when it stops (`_ends`): first response on leaving New (but to Suspended); next response
  on a move to Waiting on user (the team replied), Resolved or Archived; resolution on
  Resolved or Archived — a reopen resumes the same resolution clock;
- when one starts: first response and resolution when the conversation's metric clock
  starts (created in New, or first released from Suspended); next response on each move
  into Needs response from Waiting on user or Resolved (the customer wrote).

Each change appends a fact (models.SlaFact) and copies the soonest clock into the
conversation's summary columns (Conversation.sla_due_at, .sla).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from plug2support.contacts.models import VisitorContact
from plug2support.conversations.models import Conversation, ConversationTag, Stage
from plug2support.widgets.hours import Schedule

from . import business
from .models import AppliesTo, ClockState, FactKind, SlaClock, SlaFact, SlaPolicy, Target

COUNTS: dict[str, frozenset[str]] = {
    Target.FIRST_RESPONSE: frozenset({Stage.NEW}),
    Target.NEXT_RESPONSE: frozenset({Stage.NEEDS_RESPONSE}),
    Target.RESOLUTION: frozenset({Stage.NEW, Stage.NEEDS_RESPONSE}),
}
CLOSED = frozenset({Stage.RESOLVED, Stage.ARCHIVED})


def _ends(target: str, from_stage: str, to_stage: str) -> bool:
    if target == Target.FIRST_RESPONSE:
        return from_stage == Stage.NEW and to_stage != Stage.SUSPENDED
    if target == Target.NEXT_RESPONSE:
        return to_stage in (Stage.WAITING_ON_USER, *CLOSED)
    return to_stage in CLOSED


# --- choosing the policy ---------------------------------------------------------------

def matches(policy: SlaPolicy, conversation: Conversation, org_id: int | None,
            tag_ids: set[int]) -> bool:
    if policy.applies_to == AppliesTo.PRIORITY:
        return conversation.priority == policy.priority
    if policy.applies_to == AppliesTo.ORG:
        return org_id is not None and org_id == policy.org_id
    if policy.applies_to == AppliesTo.TAG:
        return policy.tag_id in tag_ids
    return True


def choose(conversation: Conversation) -> SlaPolicy | None:
    """The first of the company's policies (by position) whose rule matches now. The org and
    tags are read only when some policy asks for them."""
    policies = list(SlaPolicy.objects.filter(company_id=conversation.company_id))
    if not policies:
        return None
    kinds = {policy.applies_to for policy in policies}
    org_id = None
    if AppliesTo.ORG in kinds:
        org_id = (VisitorContact.objects.filter(visitor_id=conversation.visitor_id)
                  .values_list("contact__org_id", flat=True).first())
    tag_ids: set[int] = set()
    if AppliesTo.TAG in kinds:
        tag_ids = set(ConversationTag.objects.filter(conversation_id=conversation.pk)
                      .values_list("tag_id", flat=True))
    return next((p for p in policies if matches(p, conversation, org_id, tag_ids)), None)


def schedule_for(conversation: Conversation, business_hours: bool) -> Schedule:
    """The widget's hours and holidays; an e-mail conversation has the widget of the address
    it came to (or the company's default widget it was filed under): the same rule."""
    if not business_hours:
        return business.WALL
    return conversation.widget.schedule()


def warn_seconds(policy: SlaPolicy, target_seconds: int) -> int | None:
    """Warn when this much is left: the larger of the two thresholds (whichever comes first)."""
    found = []
    if policy.warn_percent:
        found.append(target_seconds * policy.warn_percent // 100)
    if policy.warn_minutes:
        found.append(policy.warn_minutes * 60)
    return min(max(found), target_seconds) if found else None


# --- the clock's moves -------------------------------------------------------------------

class _Run:
    """The changes of one writer's call: clocks to save, facts to append, schedules read."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.facts: list[SlaFact] = []
        self.schedules: dict[bool, Schedule] = {}

    def schedule(self, clock: SlaClock) -> Schedule:
        found = self.schedules.get(clock.business_hours)
        if found is None:
            found = self.schedules[clock.business_hours] = schedule_for(
                self.conversation, clock.business_hours)
        return found

    def fact(self, clock: SlaClock, kind: str, at: datetime, elapsed: float) -> None:
        self.facts.append(SlaFact(
            company_id=clock.company_id, conversation_id=clock.conversation_id, clock=clock,
            policy_id_at=clock.policy_id, target=clock.target, fact=kind, at=at,
            elapsed_seconds=round(elapsed, 3), target_seconds=clock.target_seconds,
            business_hours=clock.business_hours))

    def run_from(self, clock: SlaClock, at: datetime, left: float) -> None:
        schedule = self.schedule(clock)
        clock.state, clock.remaining_seconds = ClockState.RUNNING, None
        if left > 0:
            clock.due_at = business.add(schedule, at, left)
        else:
            # Resumed past its target (breached before): due that long ago, in wall-clock
            # terms (its breach is recorded already; only the time over it grows).
            clock.due_at = at + timedelta(seconds=left)
        clock.warn_at = None
        if clock.warned_at is None and clock.warn_seconds is not None and left > 0:
            clock.warn_at = (business.add(schedule, at, left - clock.warn_seconds)
                             if left > clock.warn_seconds else at)

    def left(self, clock: SlaClock, at: datetime) -> float:
        if clock.state != ClockState.RUNNING:
            return clock.remaining_seconds or 0.0
        assert clock.due_at is not None
        return business.remaining(self.schedule(clock), at, clock.due_at)

    def breach_if_due(self, clock: SlaClock, at: datetime) -> None:
        """A running clock past its due time that the periodic job has not recorded yet."""
        if (clock.state == ClockState.RUNNING and clock.breached_at is None
                and clock.due_at is not None and clock.due_at <= at):
            clock.breached_at = clock.due_at
            self.fact(clock, FactKind.BREACH, clock.due_at, clock.target_seconds)

    def start(self, policy: SlaPolicy, target: str, at: datetime) -> SlaClock | None:
        minutes = policy.minutes(target)
        if not minutes:
            return None
        seconds = minutes * 60
        clock = SlaClock(company_id=self.conversation.company_id,
                         conversation_id=self.conversation.pk, policy=policy, target=target,
                         business_hours=policy.business_hours, target_seconds=seconds,
                         warn_seconds=warn_seconds(policy, seconds), started_at=at)
        self.run_from(clock, at, seconds)
        if self.conversation.stage not in COUNTS[target]:
            self.pause(clock, at, log=False)
        clock.save()
        self.fact(clock, FactKind.START, at, 0)
        if clock.state == ClockState.PAUSED:
            self.fact(clock, FactKind.PAUSE, at, 0)
        return clock

    def pause(self, clock: SlaClock, at: datetime, log: bool = True) -> None:
        self.breach_if_due(clock, at)
        left = self.left(clock, at)
        clock.state, clock.remaining_seconds = ClockState.PAUSED, left
        clock.due_at = clock.warn_at = None
        if log:
            self.fact(clock, FactKind.PAUSE, at, clock.target_seconds - left)

    def resume(self, clock: SlaClock, at: datetime) -> None:
        left = clock.remaining_seconds or 0.0
        self.run_from(clock, at, left)
        self.fact(clock, FactKind.RESUME, at, clock.target_seconds - left)

    def stop(self, clock: SlaClock, at: datetime) -> None:
        self.breach_if_due(clock, at)
        left = self.left(clock, at)
        clock.state, clock.remaining_seconds, clock.stopped_at = ClockState.STOPPED, left, at
        clock.due_at = clock.warn_at = None
        self.fact(clock, FactKind.STOP, at, clock.target_seconds - left)

    def finish(self, live: list[SlaClock]) -> None:
        if self.facts:
            SlaFact.objects.bulk_create(self.facts)
        write_summary(self.conversation, live)


_SAVED = ["state", "due_at", "warn_at", "remaining_seconds", "breached_at", "stopped_at"]


def summary_of(live: list[SlaClock]) -> tuple[datetime | None, dict[str, object] | None]:
    """The soonest running clock (else the paused one with the least left) as the summary's
    `sla_due_at` and `sla` (docs/protocol.md §1)."""
    running = [c for c in live if c.state == ClockState.RUNNING and c.due_at is not None]
    paused = [c for c in live if c.state == ClockState.PAUSED]
    if running:
        clock = min(running, key=lambda c: c.due_at)  # type: ignore[arg-type,return-value]
    elif paused:
        clock = min(paused, key=lambda c: c.remaining_seconds or 0.0)
    else:
        return None, None
    due = clock.due_at
    return due, {
        "target": clock.target, "policy": clock.policy_id,
        "due_at": due.isoformat() if due else None,
        "warn_at": clock.warn_at.isoformat() if clock.warn_at else None,
        "paused": clock.state == ClockState.PAUSED,
        "remaining_seconds": (None if clock.state == ClockState.RUNNING
                              else round(clock.remaining_seconds or 0.0)),
        "breached": clock.breached_at is not None,
    }


def write_summary(conversation: Conversation, live: list[SlaClock]) -> None:
    due, sla = summary_of(live)
    if (due, sla) == (conversation.sla_due_at, conversation.sla):
        return
    Conversation.objects.filter(pk=conversation.pk).update(sla_due_at=due, sla=sla)
    conversation.sla_due_at, conversation.sla = due, sla


# --- the listeners -----------------------------------------------------------------------

def on_open(conversation: Conversation, at: datetime) -> None:
    if conversation.stage != Stage.NEW:
        return  # Suspended: the clocks start when a reviewer releases it
    _start_conversation(conversation, at)


def _start_conversation(conversation: Conversation, at: datetime) -> None:
    policy = choose(conversation)
    if policy is None:
        return
    run = _Run(conversation)
    started = [c for c in (run.start(policy, Target.FIRST_RESPONSE, at),
                           run.start(policy, Target.RESOLUTION, at)) if c is not None]
    run.finish(started)


def on_stage(conversation: Conversation, from_stage: str, to_stage: str, at: datetime) -> None:
    starts = ((from_stage == Stage.SUSPENDED and to_stage == Stage.NEW)
              or _starts_next(from_stage, to_stage))
    reopen = from_stage == Stage.RESOLVED and to_stage not in CLOSED
    if conversation.sla is None and not starts and not reopen:
        return  # no live clock, none to start or resume: no statement
    clocks = list(SlaClock.objects.filter(conversation_id=conversation.pk).order_by("id"))
    if not clocks:
        if from_stage == Stage.SUSPENDED and to_stage == Stage.NEW:
            _start_conversation(conversation, at)  # the metric clock starts now
        elif _starts_next(from_stage, to_stage):
            _start_next(conversation, at, [])
        return
    run = _Run(conversation)
    live = [c for c in clocks if c.state != ClockState.STOPPED]
    if reopen:
        # A reopen: the resolution clock goes on from where it stopped (metrics.md).
        stopped = [c for c in clocks if c.target == Target.RESOLUTION
                   and c.state == ClockState.STOPPED]
        if stopped and not any(c.target == Target.RESOLUTION for c in live):
            clock = stopped[-1]
            clock.state, clock.stopped_at = ClockState.PAUSED, None
            live.append(clock)
    changed = []
    for clock in live:
        facts = len(run.facts)
        if _ends(clock.target, from_stage, to_stage):
            run.stop(clock, at)
        elif to_stage in COUNTS[clock.target] and clock.state == ClockState.PAUSED:
            run.resume(clock, at)
        elif to_stage not in COUNTS[clock.target] and clock.state == ClockState.RUNNING:
            run.pause(clock, at)
        if len(run.facts) > facts:
            changed.append(clock)
    for clock in changed:
        clock.save(update_fields=_SAVED)
    live = [c for c in live if c.state != ClockState.STOPPED]
    if _starts_next(from_stage, to_stage) and not any(
            c.target == Target.NEXT_RESPONSE for c in live):
        policy = choose(conversation)
        started = run.start(policy, Target.NEXT_RESPONSE, at) if policy is not None else None
        if started is not None:
            live.append(started)
    if run.facts:
        SlaFact.objects.bulk_create(run.facts)
    write_summary(conversation, live)


def _starts_next(from_stage: str, to_stage: str) -> bool:
    """The customer wrote to a conversation waiting on them, or reopened a resolved one."""
    return to_stage == Stage.NEEDS_RESPONSE and from_stage in (Stage.WAITING_ON_USER,
                                                               Stage.RESOLVED)


def _start_next(conversation: Conversation, at: datetime, live: list[SlaClock]) -> None:
    policy = choose(conversation)
    run = _Run(conversation)
    clock = run.start(policy, Target.NEXT_RESPONSE, at) if policy is not None else None
    run.finish([*live, *([clock] if clock else [])])
