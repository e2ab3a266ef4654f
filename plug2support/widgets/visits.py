"""Site visitors (C7): page views reported by the loader, and the invites it picks up."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from plug2support.realtime.hub import publish_after_commit
from plug2support.realtime.topics import company_topic

from .models import PageVisit, ProactiveInvite, SiteVisitor, Widget

VID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# A visit ends after this long without a page view or heartbeat; the next one is a new
# session (and makes the visitor "returning").
SESSION_GAP = timedelta(minutes=30)
def on_site_window() -> timedelta:
    """The loader beats every SITE_HEARTBEAT_SECONDS while the page is visible: seen within
    two and a half beats, "on site now"."""
    return timedelta(seconds=settings.SITE_HEARTBEAT_SECONDS * 2.5)
INVITE_LIFETIME = timedelta(hours=1)
# The sidebar's "pages of this visit" (M8): the newest this many page changes per site
# visitor are kept, so a visitor clicking all day cannot grow the table without bound.
PAGE_VISITS_KEPT = 30


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
        # A heartbeat repeats the page the browser is on; only a new url (or the first
        # page of a new visit) is a page change worth logging and telling the team.
        changed = bool(fields["url"]) and (site_visitor.session_started_at == now
                                           or fields["url"] != site_visitor.url)
        if site_visitor.session_started_at != now and site_visitor.referrer:
            # The visit's referrer is where the visit came from: a later page's (most often
            # the site's own previous page, or a scheme we drop) does not replace it.
            del fields["referrer"]
        for name, value in fields.items():
            setattr(site_visitor, name, value)
        site_visitor.save()
        if changed:
            _log_page_change(widget.company_id, site_visitor, now)
        # Handed out once: the loader opens the chat once, and a visitor who closes it is
        # not pestered on every heartbeat. The code stays valid for the frame to redeem.
        invite = (ProactiveInvite.objects.select_for_update()
                  .filter(site_visitor=site_visitor, accepted_at__isnull=True,
                          delivered_at__isnull=True, created_at__gte=now - INVITE_LIFETIME)
                  .order_by("-created_at").first())
        if invite is not None:
            ProactiveInvite.objects.filter(pk=invite.pk).update(delivered_at=now)
    return site_visitor, invite


def _log_page_change(company_id: int, site_visitor: SiteVisitor, now: datetime) -> None:
    PageVisit.objects.create(site_visitor=site_visitor, url=site_visitor.url,
                             title=site_visitor.title, at=now)
    stale = (PageVisit.objects.filter(site_visitor=site_visitor).order_by("-at", "-pk")
             .values_list("pk", flat=True)[PAGE_VISITS_KEPT:])
    PageVisit.objects.filter(pk__in=list(stale)).delete()
    if site_visitor.visitor_id is not None:
        # M8: an operator's open sidebar shows the new page live (protocol.md "visitor_page").
        # Company-wide: the console applies it to the open conversation of that visitor.
        publish_after_commit(company_topic(company_id), {
            "type": "visitor_page", "visitor": site_visitor.visitor_id,
            "page": page_payload(site_visitor.url, site_visitor.title, now),
            "referrer": site_visitor.referrer})


def page_payload(url: str, title: str, at: datetime) -> dict[str, str]:
    return {"url": url, "title": title, "at": at.isoformat()}


def on_site_now(company_id: int) -> QuerySet[SiteVisitor]:
    since = timezone.now() - on_site_window()
    return (SiteVisitor.objects.filter(widget__company_id=company_id, last_seen_at__gte=since)
            .select_related("widget", "visitor").order_by("session_started_at"))
