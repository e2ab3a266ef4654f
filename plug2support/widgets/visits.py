"""Site visitors (C7): page views reported by the loader, and the invites it picks up."""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from .models import ProactiveInvite, SiteVisitor, Widget

VID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# A visit ends after this long without a page view or heartbeat; the next one is a new
# session (and makes the visitor "returning").
SESSION_GAP = timedelta(minutes=30)
def on_site_window() -> timedelta:
    """The loader beats every SITE_HEARTBEAT_SECONDS while the page is visible: seen within
    two and a half beats, "on site now"."""
    return timedelta(seconds=settings.SITE_HEARTBEAT_SECONDS * 2.5)
INVITE_LIFETIME = timedelta(hours=1)


class VisitError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _clean_url(value: object, limit: int = 500) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        return ""
    return value[:limit]


def do_record_page_view(widget: Widget, *, vid: object, url: object, title: object,
                        referrer: object) -> tuple[SiteVisitor, ProactiveInvite | None]:
    """Note where this browser is now; hand back a pending invite an operator made for it."""
    if not isinstance(vid, str) or not VID.match(vid):
        raise VisitError("invalid_vid", "vid must be 8 to 64 letters, digits, - or _.")
    now = timezone.now()
    fields = {"url": _clean_url(url), "title": title[:200] if isinstance(title, str) else "",
              "referrer": _clean_url(referrer), "last_seen_at": now}
    with transaction.atomic():
        site_visitor = (SiteVisitor.objects.select_for_update()
                        .filter(widget=widget, vid=vid).first())
        if site_visitor is None:
            try:
                with transaction.atomic():
                    site_visitor = SiteVisitor.objects.create(
                        widget=widget, vid=vid, session_started_at=now, **fields)
            except IntegrityError:  # the same browser, two tabs at once
                site_visitor = SiteVisitor.objects.select_for_update().get(widget=widget, vid=vid)
        if site_visitor.last_seen_at < now - SESSION_GAP:
            site_visitor.sessions += 1
            site_visitor.session_started_at = now
        for name, value in fields.items():
            setattr(site_visitor, name, value)
        site_visitor.save()
        # Handed out once: the loader opens the chat once, and a visitor who closes it is
        # not pestered on every heartbeat. The code stays valid for the frame to redeem.
        invite = (ProactiveInvite.objects.select_for_update()
                  .filter(site_visitor=site_visitor, accepted_at__isnull=True,
                          delivered_at__isnull=True, created_at__gte=now - INVITE_LIFETIME)
                  .order_by("-created_at").first())
        if invite is not None:
            ProactiveInvite.objects.filter(pk=invite.pk).update(delivered_at=now)
    return site_visitor, invite


def on_site_now(company_id: int) -> QuerySet[SiteVisitor]:
    since = timezone.now() - on_site_window()
    return (SiteVisitor.objects.filter(widget__company_id=company_id, last_seen_at__gte=since)
            .select_related("widget", "visitor").order_by("session_started_at"))
