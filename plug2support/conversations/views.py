"""The operator inbox: a live list of conversations and the selected conversation."""

from __future__ import annotations

import json
import secrets
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership
from plug2support.notifications.alerts import preferences_of
from plug2support.widgets.models import SiteVisitor, Widget
from plug2support.widgets.visits import on_site_now

from . import stages
from .access import events_after, get_conversation_for_member
from .actions.bulk import do_bulk
from .actions.core import ConversationError
from .actions.reading import read_positions
from .actions.saved_views import (
    do_delete_view,
    do_save_view,
    saved_view_payload,
    saved_views_of,
)
from .actions.started import do_start_chat_with_site_visitor, do_start_email_conversation
from .actions.tags import tags_for
from .inbox import (
    OPENING_VIEW,
    VIEW_LABELS,
    Filters,
    InboxError,
    inbox_page,
    inbox_summaries_json,
)
from .mentioned import MENTIONS_LABEL, MENTIONS_VIEW, mentioned_list
from .metrics import for_conversation
from .models import Priority, Stage
from .people import user_ref
from .serializers import conversation_summary, event_payload


@membership_required()
def inbox(request: HttpRequest, membership: Membership,
          conversation_id: int | None = None) -> HttpResponse:
    selected = None
    events: list[dict[str, object]] = []
    if conversation_id is not None:
        selected = get_conversation_for_member(membership, conversation_id)
        events = [event_payload(e) for e in events_after(selected.pk, 0)]
    conversations = inbox_page(membership, OPENING_VIEW)
    shown = [*conversations, *([selected] if selected else [])]
    return render(request, "conversations/inbox.html", {
        "selected": selected,
        "inbox_state": {
            "me": user_ref(membership.user),
            "conversations": [conversation_summary(c) for c in conversations],
            # M7: the member's read positions of what the page shows, their saved views,
            # the person-made Mentions view beside filters.VIEWS; C1: their alerts.
            "read": {str(k): v for k, v in read_positions(
                membership.user_id, [c.pk for c in shown]).items()},
            "saved_views": saved_views_of(membership),
            "personal_views": {MENTIONS_VIEW: MENTIONS_LABEL},
            "alerts": preferences_of(membership.pk),
            "list_views": OPENING_VIEW.views(membership.user_id),
            "selected": conversation_summary(selected) if selected else None,
            "events": events,
            "max_chars": settings.MESSAGE_MAX_CHARS,
            "is_admin": membership.is_admin,
            "status": membership.status,
            "stages": [{"value": v, "label": str(label)} for v, label in Stage.choices],
            "moves": {k: sorted(v) for k, v in stages.MANUAL_MOVES.items()},
            # The e-mail composer leaves the product's own addresses out of a reply's Cc.
            "inbound_domain": settings.INBOUND_EMAIL_DOMAIN,
            "metrics": for_conversation(selected).as_dict() if selected else None,
            "tags": [{"id": t.pk, "name": t.name, "takes_value": t.takes_value}
                     for t in tags_for(membership.company_id)],
            "views": VIEW_LABELS,
            "priorities": [{"value": v, "label": str(label)} for v, label in Priority.choices],
            "widgets": widgets_with_hours(membership.company_id),
            "members": [user_ref(m.user) for m in Membership.objects.filter(
                company_id=membership.company_id).select_related("user").order_by("user__name")],
        },
    })


def widgets_with_hours(company_id: int) -> list[dict[str, Any]]:
    """The company's widgets, each open now or not by its business hours and when that flips
    this week: the inbox says truthfully which widgets visitors find closed."""
    from datetime import UTC

    now = timezone.now()
    result: list[dict[str, Any]] = []
    for widget in Widget.objects.filter(company_id=company_id).prefetch_related(
            "opening_hours").order_by("name"):
        schedule = widget.schedule()
        # timezone: the snooze menu's presets are read in it (actions/snooze.company_zone).
        result.append({"id": widget.pk, "name": widget.name, "timezone": widget.timezone,
                       "open": schedule.is_open(now),
                       "changes": [c.astimezone(UTC).isoformat()
                                   for c in schedule.changes(now)]})
    return result


# --- visitors on the sites now, and conversations the team starts (C7) -------------------

class StartChatForm(forms.Form):
    body = forms.CharField(max_length=settings.MESSAGE_MAX_CHARS, label="Message",
                           widget=forms.Textarea(attrs={"rows": 2}))


class EmailConversationForm(forms.Form):
    widget = forms.ModelChoiceField(queryset=Widget.objects.none(), label="From widget",
                                    empty_label=None)
    email = forms.EmailField(label="Contact's e-mail")
    subject = forms.CharField(max_length=200, label="Subject", required=False)
    body = forms.CharField(max_length=settings.MESSAGE_MAX_CHARS, label="Message",
                           widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, company_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["widget"].queryset = Widget.objects.filter(  # type: ignore[attr-defined]
            company_id=company_id).order_by("name")


@membership_required()
def visitors(request: HttpRequest, membership: Membership) -> HttpResponse:
    email_form = EmailConversationForm(
        request.POST if request.method == "POST" else None, company_id=membership.company_id)
    if request.method == "POST" and email_form.is_valid():
        try:
            posted = do_start_email_conversation(
                membership, email_form.cleaned_data["widget"],
                email=email_form.cleaned_data["email"], client_id=secrets.token_hex(8),
                subject=email_form.cleaned_data["subject"],
                body=email_form.cleaned_data["body"])
        except ConversationError as error:
            email_form.add_error(None, error.message)
        else:
            return redirect("conversation", conversation_id=posted.event.conversation_id)
    now = timezone.now()
    rows = [{"visit": v, "minutes": max(0, int((now - v.session_started_at).total_seconds()
                                               // 60))}
            for v in on_site_now(membership.company_id)]
    template = "conversations/visitors_table.html" if request.GET.get("partial") else \
        "conversations/visitors.html"
    return render(request, template, {"rows": rows, "email_form": email_form,
                                      "chat_form": StartChatForm()})


@membership_required()
@require_POST
def start_chat(request: HttpRequest, membership: Membership, site_visitor_id: int) -> HttpResponse:
    site_visitor = get_object_or_404(SiteVisitor.objects.select_related("widget", "visitor"),
                                     pk=site_visitor_id, widget__company_id=membership.company_id)
    form = StartChatForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write a message to start the chat.")
        return redirect("visitors")
    try:
        posted = do_start_chat_with_site_visitor(
            membership, site_visitor, client_id=secrets.token_hex(8),
            body=form.cleaned_data["body"])
    except ConversationError as error:
        messages.error(request, error.message)
        return redirect("visitors")
    return redirect("conversation", conversation_id=posted.event.conversation_id)


@membership_required()
def inbox_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The inbox list as JSON, for a view, filters and a search (D10), with the member's
    read positions of its conversations (M7); the Mentions view is the person's (M3)."""
    if request.GET.get("view") == MENTIONS_VIEW:
        listed = mentioned_list(membership)
        return JsonResponse({**listed, "views": [], "read": _read_of(
            membership, listed["order"])})
    try:
        filters = Filters.parse(request.GET)
    except InboxError as error:
        return JsonResponse({"error": {"code": "bad_filter", "message": error.message}},
                            status=400)
    # The page's summaries come as JSON text (built by the database on PostgreSQL), and the
    # views a live summary must have to belong in this list.
    views = json.dumps(filters.views(membership.user_id))
    page = inbox_summaries_json(membership, filters)
    # The page's ids, read back from its JSON (the database wrote it on PostgreSQL).
    read = json.dumps(_read_of(membership, [c["id"] for c in json.loads(page)]))
    return HttpResponse(f'{{"conversations": {page}, "views": {views}, "read": {read}}}',
                        content_type="application/json")


@membership_required()
@require_POST
def bulk(request: HttpRequest, membership: Membership) -> HttpResponse:
    """M5: one action on many conversations (docs/protocol.md, "Bulk actions"): a JSON body
    {"ids": [...], "action": "...", ...its options}; each row is done or refused on its own."""
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        return JsonResponse({"error": {"code": "bad_request",
                                       "message": "The body is a JSON object."}}, status=400)
    try:
        result = do_bulk(membership, body.get("ids"), body.get("action"), body)
    except ConversationError as error:
        return JsonResponse({"error": {"code": error.code, "message": error.message,
                                       **error.details}}, status=400)
    return JsonResponse(result.as_dict())


def _read_of(membership: Membership, ids: list[int]) -> dict[str, int]:
    return {str(k): v for k, v in read_positions(membership.user_id, ids).items()}


@require_POST
@membership_required()
def save_view(request: HttpRequest, membership: Membership) -> HttpResponse:
    """M7: the current filters (the form's fields) saved as the person's named view."""
    try:
        view = do_save_view(membership, request.POST.get("name"), request.POST)
    except ConversationError as error:
        return JsonResponse({"error": {"code": error.code, "message": error.message}},
                            status=400)
    return JsonResponse({"view": saved_view_payload(view)}, status=201)


@require_POST
@membership_required()
def delete_view(request: HttpRequest, membership: Membership, view_id: int) -> HttpResponse:
    do_delete_view(membership, view_id)
    return JsonResponse({"deleted": view_id})
