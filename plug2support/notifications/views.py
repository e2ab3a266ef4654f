from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership

from .actions import do_mark_read, recent_for
from .alerts import CHANNELS, KINDS, do_set_alert_preferences, preferences_of


@membership_required()
def notification_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    if request.method == "POST":
        do_mark_read(membership.user_id, membership.company_id)
        return redirect("notifications")
    notifications = recent_for(membership.user_id, membership.company_id)
    for n in notifications:  # the template formats a datetime, not its ISO text
        n["created"] = datetime.fromisoformat(n["created_at"])
    return render(request, "notifications/list.html", {"notifications": notifications})


@membership_required()
def alert_settings(request: HttpRequest, membership: Membership) -> HttpResponse:
    """C1 (issue 18 point 8): each person's sound, desktop and e-mail per kind of event."""
    if request.method == "POST":
        do_set_alert_preferences(membership, request.POST)
        messages.success(request, "Alert preferences saved.")
        return redirect("alert_settings")
    chosen = preferences_of(membership.pk)
    rows = [{"kind": kind, "label": label,
             "channels": [{"channel": channel, "name": f"{kind}.{channel}",
                           "on": chosen[kind][channel]} for channel in CHANNELS]}
            for kind, (label, _default) in KINDS.items()]
    return render(request, "notifications/alerts.html",
                  {"rows": rows, "channels": CHANNELS})
