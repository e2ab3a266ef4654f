"""Satisfaction (K2): each resolution asked about, and the visitor's answer.

`RatingRequest` is one resolution the visitor was asked to rate (the widget's question, or
the resolution mail's link); `Rating` is the answer, at most one per request (a unique
key, so a resend or a second click stores nothing twice). A reopen and a new resolution
make a new request. Both carry the company and their time for the reports' range reads
(facts.py, docs/metrics.md "Satisfaction").
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from plug2support.accounts.models import Company
from plug2support.conversations.models import Conversation, StageChange

SCORE_MIN, SCORE_MAX = 1, 5
COMMENT_MAX_CHARS = 1000
LOW_SCORES = frozenset({1, 2})


class RatingChannel(models.TextChoices):
    WIDGET = "widget", "Widget"
    EMAIL = "email", "E-mail"


class RatingRequest(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="rating_requests")
    # The move into Resolved it asks about: one request per resolution.
    resolution = models.OneToOneField(StageChange, on_delete=models.CASCADE,
                                      related_name="rating_request")
    channel = models.CharField(max_length=10, choices=RatingChannel.choices)
    # The serving operator at the resolution (who a low score notifies); NULL in the pool.
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                 null=True, blank=True, related_name="+")
    # The seq of the `rating_asked` event in the conversation: the widget answers it by it.
    seq = models.PositiveBigIntegerField()
    question = models.CharField(max_length=200)
    asked_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["company", "asked_at"], name="csat_asked_by_time"),
                   models.Index(fields=["conversation", "seq"], name="csat_asked_by_seq")]

    def __str__(self) -> str:
        return f"rating asked in {self.conversation_id}#{self.seq}"


class Rating(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="ratings")
    request = models.OneToOneField(RatingRequest, on_delete=models.CASCADE,
                                   related_name="rating")
    score = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(SCORE_MIN), MaxValueValidator(SCORE_MAX)])
    comment = models.TextField(blank=True, default="")
    channel = models.CharField(max_length=10, choices=RatingChannel.choices)
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                 null=True, blank=True, related_name="+")
    # The widget's own id for the answer: a resend with it is answered as stored.
    client_id = models.CharField(max_length=64, blank=True, default="")
    # The `rating` event's seq in the conversation.
    seq = models.PositiveBigIntegerField()
    rated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["company", "rated_at"], name="csat_rated_by_time")]
        constraints = [models.CheckConstraint(condition=models.Q(score__gte=SCORE_MIN,
                                                                 score__lte=SCORE_MAX),
                                              name="csat_score_1_to_5")]

    def __str__(self) -> str:
        return f"{self.score}/5 for {self.conversation_id}"
