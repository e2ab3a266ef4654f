"""Periodic jobs (DESIGN: "a row per (job, slot) with a unique constraint decides who runs
it"). See ops/periodic.py."""

from __future__ import annotations

from django.db import models


class PeriodicRun(models.Model):
    """One run of a periodic job for one slot (the moment it is due). Inserting the row is
    the claim: a second worker's insert fails on the constraint. A claim whose worker died is
    taken over after periodic.LEASE; the jobs themselves are idempotent, so a takeover (or
    a re-run) changes nothing twice."""

    job = models.CharField(max_length=64)
    slot = models.DateTimeField()
    claimed_by = models.CharField(max_length=100)
    claimed_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "slot"],
                                               name="one_run_per_job_and_slot")]
        indexes = [models.Index(fields=["job", "-slot"])]

    def __str__(self) -> str:
        return f"{self.job} @ {self.slot:%Y-%m-%d %H:%M}"
