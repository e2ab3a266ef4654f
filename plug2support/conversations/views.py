"""The operator inbox: a live list of conversations and the selected conversation."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership

from .access import conversations_for, events_after, get_conversation_for_member
from .serializers import conversation_summary, event_payload, user_ref

INBOX_PAGE_SIZE = 100


@membership_required()
def inbox(request: HttpRequest, membership: Membership,
          conversation_id: int | None = None) -> HttpResponse:
    selected = None
    events: list[dict[str, object]] = []
    if conversation_id is not None:
        selected = get_conversation_for_member(membership, conversation_id)
        events = [event_payload(e) for e in events_after(selected.pk, 0)]
    conversations = conversations_for(membership).order_by("-updated_at")[:INBOX_PAGE_SIZE]
    return render(request, "conversations/inbox.html", {
        "selected": selected,
        "inbox_state": {
            "me": user_ref(membership.user),
            "conversations": [conversation_summary(c) for c in conversations],
            "selected": conversation_summary(selected) if selected else None,
            "events": events,
            "max_chars": settings.MESSAGE_MAX_CHARS,
            "is_admin": membership.is_admin,
            "status": membership.status,
            "members": [user_ref(m.user) for m in Membership.objects.filter(
                company_id=membership.company_id).select_related("user").order_by("user__name")],
        },
    })
