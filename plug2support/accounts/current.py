"""The user's current company (A4: a user may belong to several and switch)."""

from __future__ import annotations

from django.http import HttpRequest

from .models import Membership

SESSION_KEY = "company_id"


def current_membership(user_id: int, company_id: int | None) -> Membership | None:
    """The membership the session points at, or the user's first one."""
    memberships = Membership.objects.filter(user_id=user_id).select_related("company", "user")
    if company_id is not None:
        chosen = memberships.filter(company_id=company_id).first()
        if chosen is not None:
            return chosen
    return memberships.order_by("created_at", "id").first()


def request_membership(request: HttpRequest) -> Membership | None:
    """The logged-in user's current membership, read once per request. Only views that ask
    touch the session, so public endpoints (widget config) stay cacheable (no Vary: Cookie)."""
    if not hasattr(request, "_membership"):
        membership = None
        if request.user.is_authenticated:
            membership = current_membership(request.user.pk, request.session.get(SESSION_KEY))
        request._membership = membership  # type: ignore[attr-defined]
    return request._membership  # type: ignore[attr-defined, no-any-return]
