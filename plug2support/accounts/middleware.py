"""Attach the user's current company and membership to every request (A4: switchable)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

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


class CurrentCompanyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.membership = None  # type: ignore[attr-defined]
        if request.user.is_authenticated:
            request.membership = current_membership(  # type: ignore[attr-defined]
                request.user.pk, request.session.get(SESSION_KEY)
            )
        return self.get_response(request)
