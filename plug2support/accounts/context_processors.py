from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from plug2support.notifications.actions import unread_count

from .current import request_membership
from .models import Membership


def current_company(request: HttpRequest) -> dict[str, Any]:
    membership = request_membership(request)
    if membership is None:
        return {}
    others = Membership.objects.filter(user_id=membership.user_id).exclude(pk=membership.pk)

    return {
        "unread_notifications": unread_count(membership.user_id, membership.company_id),
        "membership": membership,
        "company": membership.company,
        "other_memberships": others.select_related("company"),
    }
