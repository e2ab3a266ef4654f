"""Tenant-checking helpers: every read of company data goes through one of these."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render

from .current import request_membership
from .models import Membership

Response = TypeVar("Response", bound=HttpResponseBase)


def membership_required(
    admin: bool = False,
) -> Callable[[Callable[..., Response]], Callable[..., Response | HttpResponse]]:
    """A logged-in member of a company (an admin when `admin`); passes the membership on."""

    def decorator(view: Callable[..., Response]) -> Callable[..., Response | HttpResponse]:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Response | HttpResponse:
            membership: Membership | None = request_membership(request)
            if membership is None:
                return redirect("no_company")
            if admin and not membership.is_admin:
                # Answered here, not raised: a refusal the console expects is no error to
                # log with a traceback (Django logs a raised PermissionDenied so).
                return render(request, "403.html", status=403)
            return view(request, membership, *args, **kwargs)

        return wrapped

    return decorator
