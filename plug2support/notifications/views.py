from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership

from .actions import do_mark_read, recent_for


@membership_required()
def notification_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    if request.method == "POST":
        do_mark_read(membership.user_id, membership.company_id)
        return redirect("notifications")
    notifications = recent_for(membership.user_id, membership.company_id)
    for n in notifications:  # the template formats a datetime, not its ISO text
        n["created"] = datetime.fromisoformat(n["created_at"])
    return render(request, "notifications/list.html", {"notifications": notifications})
