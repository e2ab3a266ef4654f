from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .current import request_membership
from .models import Membership


def current_company(request: HttpRequest) -> dict[str, Any]:
    membership = request_membership(request)
    if membership is None:
        return {}
    others = Membership.objects.filter(user_id=membership.user_id).exclude(pk=membership.pk)
    return {
        "membership": membership,
        "company": membership.company,
        "other_memberships": others.select_related("company"),
    }
