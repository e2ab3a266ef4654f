"""The sidebar beside the thread (M8): who the person is, where they are on the site, and
their earlier conversations and tickets. `sidebar_data` is the JSON of
GET /console/conversations/<id>/sidebar.json (protocol.md); every piece and where it comes
from is listed in architecture.md, "The sidebar's data and where each piece comes from"."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from plug2support.accounts.models import Membership
from plug2support.contacts.actions import contact_of, priority_for_org
from plug2support.contacts.fields import contact_fields
from plug2support.widgets import geoip
from plug2support.widgets.models import PageVisit, SiteVisitor

from .models import Conversation, Priority, Ticket
from .people import user_ref

NOT_COLLECTED = None  # the console writes "not collected" for it
HISTORY_MAX = 20
TICKETS_MAX = 20


def _browser(user_agent: str) -> dict[str, str | None]:
    if not user_agent:
        return {"browser": NOT_COLLECTED, "os": NOT_COLLECTED, "device": NOT_COLLECTED}
    from ua_parser import parse

    parsed = parse(user_agent)
    agent, os, device = parsed.user_agent, parsed.os, parsed.device

    def named(part: Any) -> str | None:
        if part is None:
            return None
        version = ".".join(v for v in (part.major, part.minor) if v)
        return f"{part.family} {version}".strip()

    # ua-parser names phones and tablets; anything else it calls "Other" (or nothing): a
    # computer, as far as the user agent says.
    family = device.family if device is not None else None
    return {"browser": named(agent), "os": named(os),
            "device": family if family and family != "Other" else "Computer"}


def _country(visitor: Any) -> dict[str, Any]:
    """Looked up at collect time (widgets/geoip.py); only the code and name were kept."""
    return {"configured": geoip.configured(), "iso_code": visitor.country or None,
            "name": visitor.country_name or visitor.country or None}


def _local_time(zone: str, now: datetime) -> str | None:
    return now.astimezone(ZoneInfo(zone)).isoformat() if zone else None


def sidebar_data(membership: Membership, conversation: Conversation) -> dict[str, Any]:
    visitor = conversation.visitor
    contact = contact_of(visitor)
    org = contact.org if contact is not None else None
    now = timezone.now()
    who = {
        "name": contact.name if contact and contact.name else visitor.display_name,
        "email": (contact.email if contact and contact.email else visitor.email) or None,
        "verified": bool(contact and contact.verified),
        # M8: an operator may name an unverified person; a verified name is the site's.
        "name_editable": not (contact and contact.verified),
        "contact": {"id": contact.pk} if contact else None,
        "org": None if org is None else {
            "id": org.pk, "name": org.name, "domain": org.domain,
            "default_owner": user_ref(org.default_owner) if org.default_owner_id else None,
            "priority": Priority(priority_for_org(org.created_at, now)).label},
        # M9: the company's custom attributes with this person's values, and the notes on
        # them and on their org (contacts/fields.py; drawn by inbox/contact_fields.js).
        "fields": contact_fields(membership.company_id, contact.pk if contact else None,
                                 org.pk if org else None),
    }
    site_visit = (SiteVisitor.objects.filter(visitor=visitor, widget__company_id=membership
                                             .company_id).order_by("-last_seen_at").first())
    pages: list[dict[str, str]] = []
    if site_visit is not None:
        pages = [{"url": p.url, "title": p.title, "at": p.at.isoformat()}
                 for p in PageVisit.objects.filter(site_visitor=site_visit,
                                                   at__gte=site_visit.session_started_at)
                 .order_by("-at", "-pk")[:30]]
    where = {
        "current_page": None if site_visit is None or not site_visit.url else {
            "url": site_visit.url, "title": site_visit.title,
            "at": site_visit.last_seen_at.isoformat()},
        "referrer": site_visit.referrer if site_visit and site_visit.referrer else None,
        "pages": pages,
        **_browser(visitor.user_agent),
        "user_agent": visitor.user_agent or None,
        "language": visitor.language or None,
        "time_zone": visitor.time_zone or None,
        "local_time": _local_time(visitor.time_zone, now),
        "country": _country(visitor),
    }
    return {"conversation": conversation.pk, "visitor": visitor.pk, "who": who,
            "where": where, "history": _history(membership, conversation, contact),
            "tickets": _tickets(membership, conversation, contact)}


def _persons_conversations(membership: Membership, conversation: Conversation,
                           contact: Any) -> Any:
    """Every conversation of this person in the company, any channel: of the contact's
    every visitor (widget chats and e-mail), else of this visitor alone."""
    if contact is not None:
        mine = Conversation.objects.filter(visitor__contact_link__contact=contact)
    else:
        mine = Conversation.objects.filter(visitor=conversation.visitor)
    return mine.filter(company_id=membership.company_id)


def _tickets(membership: Membership, conversation: Conversation,
             contact: Any) -> list[dict[str, Any]]:
    """The tickets opened from this person's conversations, this one included (E1), the
    newest first, each linked to its row in its tracker."""
    tickets = (Ticket.objects.filter(company_id=membership.company_id,
                                     conversation__in=_persons_conversations(
                                         membership, conversation, contact).values("pk"))
               .order_by("-created_at", "-pk")[:TICKETS_MAX])
    return [{"id": t.pk, "title": t.title, "kind": t.kind, "stage": t.stage,
             "stage_label": t.get_stage_display(), "conversation": t.conversation_id,
             "created_at": t.created_at.isoformat(),
             "url": f"/tickets/?tracker={t.tracker}#ticket-{t.pk}"} for t in tickets]


def _history(membership: Membership, conversation: Conversation,
             contact: Any) -> list[dict[str, Any]]:
    """Earlier conversations of this person, any channel, the newest first."""
    earlier = (_persons_conversations(membership, conversation, contact)
               .exclude(pk=conversation.pk).order_by("-created_at")[:HISTORY_MAX])
    return [{"id": c.pk, "channel": c.channel, "stage": c.stage,
             "stage_label": c.get_stage_display(), "subject": c.subject,
             "preview": c.preview, "created_at": c.created_at.isoformat(),
             "url": f"/inbox/{c.pk}/"} for c in earlier]
