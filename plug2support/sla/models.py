"""Service targets (K3): a company's policies, each conversation's clocks, and their facts.
The rules are docs/metrics.md, "Service targets"; clocks.py applies them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from plug2support.accounts.models import Company
from plug2support.contacts.models import CustomerOrg
from plug2support.conversations.models import Conversation, Tag


class Target(models.TextChoices):
    FIRST_RESPONSE = "first_response", "First response"
    NEXT_RESPONSE = "next_response", "Next response"
    RESOLUTION = "resolution", "Resolution"


class AppliesTo(models.TextChoices):
    ALL = "all", "All conversations"
    PRIORITY = "priority", "A priority"
    ORG = "org", "A customer org"
    TAG = "tag", "A tag"


class SlaPolicy(models.Model):
    """Targets in minutes (None: no such target), counted in the widget's business hours or
    wall-clock. Tried in `position` order; the first whose rule matches applies."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="sla_policies")
    name = models.CharField(max_length=80)
    position = models.PositiveIntegerField(default=0)
    first_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    next_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)
    business_hours = models.BooleanField(default=True)
    # Warn when this share of the target is left (percent) or this many minutes; both empty:
    # no warning. With both, whichever comes first.
    warn_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    warn_minutes = models.PositiveIntegerField(null=True, blank=True)
    applies_to = models.CharField(max_length=10, choices=AppliesTo.choices,
                                  default=AppliesTo.ALL)
    priority = models.PositiveSmallIntegerField(null=True, blank=True)
    org = models.ForeignKey(CustomerOrg, on_delete=models.CASCADE, null=True, blank=True,
                            related_name="+")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, null=True, blank=True,
                            related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(first_response_minutes=0)
                                   & ~Q(next_response_minutes=0) & ~Q(resolution_minutes=0),
                                   name="sla_targets_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    def minutes(self, target: str) -> int | None:
        value: int | None = getattr(self, f"{target}_minutes")
        return value


class ClockState(models.TextChoices):
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    STOPPED = "stopped", "Stopped"


class SlaClock(models.Model):
    """One target of one conversation. Running: `due_at` is when it breaches (computed in
    business hours when the policy says so); paused: `remaining_seconds` of the target's
    measure are left (negative once breached). `breached_at` is the due time it passed."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="sla_clocks")
    policy = models.ForeignKey(SlaPolicy, on_delete=models.SET_NULL, null=True,
                               related_name="clocks")
    target = models.CharField(max_length=20, choices=Target.choices)
    business_hours = models.BooleanField()
    target_seconds = models.PositiveIntegerField()
    warn_seconds = models.PositiveIntegerField(null=True)  # warn when this much is left
    state = models.CharField(max_length=10, choices=ClockState.choices)
    started_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True)
    warn_at = models.DateTimeField(null=True)
    remaining_seconds = models.FloatField(null=True)
    warned_at = models.DateTimeField(null=True)
    breached_at = models.DateTimeField(null=True)
    stopped_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            # At most one unstopped clock per target: a reopen resumes it, never adds one.
            models.UniqueConstraint(fields=["conversation", "target"],
                                    condition=~Q(state="stopped"), name="one_live_sla_clock"),
        ]
        indexes = [
            # The periodic job: what runs and is due (to breach) or near (to warn).
            models.Index(fields=["due_at"], name="sla_clock_due",
                         condition=Q(state="running", breached_at__isnull=True)),
            models.Index(fields=["warn_at"], name="sla_clock_warn",
                         condition=Q(state="running", warned_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id} {self.target} {self.state}"


class FactKind(models.TextChoices):
    START = "start", "Start"
    PAUSE = "pause", "Pause"
    RESUME = "resume", "Resume"
    STOP = "stop", "Stop"
    BREACH = "breach", "Breach"


class SlaFact(models.Model):
    """Append-only: what happened to a clock, when (UTC). `elapsed_seconds`: the target's
    measure counted so far (business or wall seconds), `overdue_seconds` past the target."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    clock = models.ForeignKey(SlaClock, on_delete=models.CASCADE, related_name="facts")
    policy_id_at = models.BigIntegerField(null=True)  # the policy's id then (kept if deleted)
    target = models.CharField(max_length=20, choices=Target.choices)
    fact = models.CharField(max_length=10, choices=FactKind.choices)
    at = models.DateTimeField()
    elapsed_seconds = models.FloatField(default=0)
    target_seconds = models.PositiveIntegerField()
    business_hours = models.BooleanField()

    class Meta:
        ordering = ["at", "id"]
        # Reports read a company's facts over a period (BRIEF20: company + time range).
        indexes = [models.Index(fields=["company", "at"], name="sla_fact_company_at")]

    def __str__(self) -> str:
        return f"{self.clock_id} {self.fact} {self.at}"
