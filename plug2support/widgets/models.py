"""Widgets (B1, B2, B6 allowed domains) and the anonymous visitors who talk through them."""

from __future__ import annotations

import hashlib
import secrets
from datetime import time
from zoneinfo import ZoneInfo

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from plug2support.accounts.models import Company

from .hours import ALWAYS_OPEN, WEEKDAYS, Schedule
from .names import generated_name
from .origins import normalise_origin, stored_origins

SPACING_MAX = 200


class Alignment(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"


class Appearance(models.TextChoices):
    LIGHT = "light", "Light"
    DARK = "dark", "Dark"


def _widget_key() -> str:
    return "wk_" + secrets.token_urlsafe(12)


def _widget_secret() -> str:
    return secrets.token_urlsafe(32)


# K2: what the widget and the rating page ask unless the company wrote its own question.
DEFAULT_CSAT_QUESTION = "How would you rate this conversation?"


class Widget(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="widgets")
    name = models.CharField(max_length=100)
    # Public: it is in the snippet on the customer's pages.
    key = models.CharField(max_length=32, unique=True, default=_widget_key)
    # Private: signs the site's identity claims (B6, a later issue).
    secret = models.CharField(max_length=64, default=_widget_secret)
    title = models.CharField("greeting", max_length=120, default="Hi! How can we help?")
    # One origin per line; empty = any origin may embed the widget (B6).
    allowed_origins = models.TextField(blank=True, default="")
    # Business hours (C6): off = open whenever an operator is online.
    hours_enabled = models.BooleanField("use business hours", default=False)
    timezone = models.CharField("time zone", max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)
    # Look (B3). Images are checked by content (widgets/appearance.py) and stored under a
    # name that changes with them, so they can be cached for good.
    launcher_logo = models.CharField(max_length=200, blank=True, default="")
    brand_logo = models.CharField(max_length=200, blank=True, default="")
    alignment = models.CharField(max_length=5, choices=Alignment.choices,
                                 default=Alignment.RIGHT)
    spacing_side = models.PositiveSmallIntegerField(
        "distance from the side (px)", default=20,
        validators=[MinValueValidator(0), MaxValueValidator(SPACING_MAX)])
    spacing_bottom = models.PositiveSmallIntegerField(
        "distance from the bottom (px)", default=20,
        validators=[MinValueValidator(0), MaxValueValidator(SPACING_MAX)])
    appearance = models.CharField(max_length=5, choices=Appearance.choices,
                                  default=Appearance.LIGHT)
    brand_color = models.CharField("brand colour", max_length=7, default="#4f46e5",
                                   validators=[RegexValidator(r"^#[0-9a-f]{6}$")])
    # Layout (B4): the title is the greeting above; search of help articles (G1).
    search_enabled = models.BooleanField("search help articles", default=False)
    # N7: on, only a visitor the site identified (B6) may chat; the others see why.
    require_identity = models.BooleanField("require verified identity", default=False)
    # K2: on, each resolution asks the visitor to rate it (plug2support/satisfaction).
    csat_enabled = models.BooleanField("ask for a rating when resolved", default=True)
    csat_question = models.CharField("rating question", max_length=200, blank=True,
                                     default=DEFAULT_CSAT_QUESTION)

    def __str__(self) -> str:
        return self.name

    def schedule(self) -> Schedule:
        if not self.hours_enabled:
            return ALWAYS_OPEN
        weekly: dict[int, tuple[tuple[time, time], ...]] = {}
        for hours in self.opening_hours.all():
            weekly[hours.weekday] = weekly.get(hours.weekday, ()) + ((hours.opens, hours.closes),)
        holidays = frozenset(self.holidays.values_list("date", flat=True))
        return Schedule(tz=ZoneInfo(self.timezone), weekly=weekly, holidays=holidays)

    @property
    def origin_list(self) -> list[str]:
        return stored_origins(self.allowed_origins)

    def allows_origin(self, origin: str | None) -> bool:
        allowed = self.origin_list
        if not allowed:
            return True
        return bool(origin) and normalise_origin(origin or "") in allowed


class WidgetCard(models.Model):
    """An announcement on the widget's home (B4): title, description, image, link; ordered."""

    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="cards")
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=80)
    description = models.CharField(max_length=300, blank=True, default="")
    image = models.CharField(max_length=200, blank=True, default="")
    link = models.URLField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.title


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Visitor(models.Model):
    """An anonymous person on a customer's site, known only by a token kept in the widget."""

    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="visitors")
    # Only the hash is stored: a database leak does not let anyone speak as a visitor.
    token_hash = models.CharField(max_length=64, unique=True)
    # Given in the offline form (C6): replies to the visitor also go there by e-mail.
    email = models.EmailField(blank=True, default="")
    # Made by an operator for someone not chatting yet (C7): no browser holds its token, so
    # the first browser that redeems the invite may adopt it. Any other visitor is someone's,
    # and an invite never hands it to another browser (N7).
    placeholder = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    # What the sidebar shows about the browser (M8), written only by widgets/collect.py
    # (the one place a privacy mode can gate): the latest session's User-Agent header,
    # the frame's navigator.language (else Accept-Language), its IANA time zone.
    user_agent = models.CharField(max_length=500, blank=True, default="")
    language = models.CharField(max_length=35, blank=True, default="")
    time_zone = models.CharField(max_length=64, blank=True, default="")
    # The country of the address the session came from, looked up in the operator's own
    # GeoIP database (GEOIP_PATH) by collect.py at that moment: the ISO code and its English
    # name only. The address itself is never stored (docs/architecture.md, the sidebar).
    country = models.CharField(max_length=2, blank=True, default="")
    country_name = models.CharField(max_length=80, blank=True, default="")
    # The name of its contact (contacts' own `name`), copied here by the contacts actions
    # that write it: the inbox list names visitors from their own row (one-row subqueries,
    # inbox/columns.py), and a join to the contact would cost every page of the list.
    name = models.CharField(max_length=150, blank=True, default="")

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return visitor_name(self.pk, self.email, self.name)


def visitor_name(pk: int, email: str | None, name: str | None = None) -> str:
    """How a visitor is named to the team (also where rows are read as plain values): its
    contact's name once known, else its e-mail address, else a readable name generated from
    its id (names.py)."""
    return name or email or generated_name(pk)


class OpeningHours(models.Model):
    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(choices=list(enumerate(WEEKDAYS)))
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["weekday", "opens"]
        constraints = [
            models.CheckConstraint(condition=models.Q(closes__gt=models.F("opens")),
                                   name="hours_close_after_they_open"),
        ]

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.opens:%H:%M}–{self.closes:%H:%M}"


class Holiday(models.Model):
    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["widget", "date"],
                                               name="one_holiday_per_date")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class SiteVisitor(models.Model):
    """Someone browsing a company's site with the loader on the page, chat opened or not
    (C7): what page they are on, since when, and whether they came before. Known by a random
    id the loader keeps in the site's own storage."""

    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="site_visitors")
    vid = models.CharField(max_length=64)
    # Linked once the chat frame opens on that browser (the widget's hello carries the vid).
    visitor = models.ForeignKey(Visitor, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="site_visits")
    url = models.CharField(max_length=500, blank=True, default="")
    title = models.CharField(max_length=200, blank=True, default="")
    referrer = models.CharField(max_length=500, blank=True, default="")
    first_seen_at = models.DateTimeField(auto_now_add=True)
    session_started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)
    sessions = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["widget", "vid"],
                                               name="one_site_visitor_per_vid")]

    def __str__(self) -> str:
        return f"{self.vid} on {self.url}"

    @property
    def returning(self) -> bool:
        return self.sessions > 1


class PageVisit(models.Model):
    """A page change of a site visitor (M8): the sidebar's "pages of this visit". Written
    when the loader reports a new url, not on heartbeats; the newest PAGE_VISITS_KEPT per
    site visitor are kept (widgets/visits.py)."""

    site_visitor = models.ForeignKey(SiteVisitor, on_delete=models.CASCADE,
                                     related_name="page_visits")
    url = models.CharField(max_length=500)
    title = models.CharField(max_length=200, blank=True, default="")
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["site_visitor", "-at"], name="page_visit_latest")]

    def __str__(self) -> str:
        return f"{self.url} at {self.at}"


class ProactiveInvite(models.Model):
    """An operator started a chat with a site visitor who has not opened the widget: the
    loader picks the invite up and opens the chat (C7)."""

    site_visitor = models.ForeignKey(SiteVisitor, on_delete=models.CASCADE,
                                     related_name="invites")
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE,
                                     related_name="+")
    code = models.CharField(max_length=64, unique=True, default=_widget_secret)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"invite to {self.site_visitor_id}"
