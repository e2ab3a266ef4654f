"""Throttled logins, password-reset requests and sign-ups (N5).

Failed logins: django-axes (settings `AXES_*`) counts them per account and per client address
in the database and refuses a locked-out login before the password is checked; this module
gives it the address, the account's name and the page it answers with. Password-reset
requests and sign-ups: every request counts, so the product's cache limiter
(lib/ratelimit.py) is enough, in windows aligned to the clock so the page can say when the
window ends. docs/architecture.md ("Security") says why each.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from plug2support.lib.ratelimit import hit

from .forms import EmailAuthenticationForm

HOUR = 3600


def client_ip(request: HttpRequest) -> str:
    # uvicorn's proxy headers (`web`) already put the client's address behind a trusted
    # proxy here, as for every other limit of the product.
    return str(request.META.get("REMOTE_ADDR", ""))


def login_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The account a login names, as stored (addresses are kept in lower case)."""
    name = (credentials or {}).get("username") or request.POST.get("username")
    return str(name).strip().lower() if name else None


@dataclass(frozen=True)
class Refusal:
    retry_at: datetime

    @property
    def seconds(self) -> int:
        return max(1, math.ceil((self.retry_at - timezone.now()).total_seconds()))

    def message(self, what: str) -> str:
        if self.seconds < 60:
            # A short wait (two-factor's 1, 2, 4 … s after a wrong code) in seconds: "after
            # 23:33 (in 1 minute)" for a one-second wait reads as a minute's lock-out.
            return (f"{what} Wait {self.seconds} second{'s' if self.seconds != 1 else ''} "
                    "and try again.")
        minutes = math.ceil(self.seconds / 60)
        at = self.retry_at + timedelta(seconds=59)  # shown rounded up to the minute
        return (f"{what} Try again after {at:%H:%M} UTC "
                f"(in {minutes} minute{'s' if minutes != 1 else ''}).")


def refused_page(request: HttpRequest, template: str, context: dict[str, Any],
                 refusal: Refusal, what: str) -> HttpResponse:
    """The form's page again, 429, with the refusal above the form (`throttled`)."""
    response = render(request, template, {**context, "throttled": refusal.message(what)},
                      status=429)
    response["Retry-After"] = str(refusal.seconds)
    return response


# --- logins (django-axes) ---------------------------------------------------------------------

def login_retry_at(username: str | None, ip: str) -> datetime:
    """When axes lets this login through again: for each of the account and the address whose
    failures within the cool-off reach the limit, the moment enough of them have aged out."""
    cool_off: timedelta = settings.AXES_COOLOFF_TIME
    limit: int = settings.AXES_FAILURE_LIMIT
    now = timezone.now()
    retry_at = now
    filters: list[dict[str, str]] = [{"ip_address": ip}]
    if username:
        filters.append({"username": username})
    for lookup in filters:
        rows = list(AccessAttempt.objects.filter(attempt_time__gte=now - cool_off, **lookup)
                    .order_by("attempt_time").values_list("attempt_time", "failures_since_start"))
        failures = sum(count for _, count in rows)
        for attempt_time, count in rows:  # a row's failures age out with its latest one
            if failures < limit:
                break
            failures -= count
            retry_at = max(retry_at, attempt_time + cool_off)
    return retry_at


def login_locked_out(request: HttpRequest, *args: Any) -> HttpResponse:
    """Axes' answer to a locked-out login: the login page, saying when to try again.

    Axes calls it with (request, response, credentials), or (request, credentials) from its
    async middleware: the credentials are read from the request instead."""
    credentials = getattr(request, "axes_credentials", None)
    username = login_username(request, credentials)
    refusal = Refusal(login_retry_at(username, client_ip(request)))
    # Unbound (a bound one would authenticate again to show its errors), the address kept.
    form = EmailAuthenticationForm(request, initial={"username": username or ""})
    return refused_page(request, "registration/login.html",
                        {"form": form, "next": request.POST.get("next", "")}, refusal,
                        "Too many failed logins for this account or from your network.")


# --- password-reset requests and sign-ups (the cache limiter) ----------------------------------

def _over(name: str, identity: str, limit: int, window: int) -> Refusal | None:
    """Count one request of `identity` in the current window of `window` seconds (aligned to
    the clock, so its end is known); a Refusal once more than `limit` fell in it."""
    slot = int(time.time() // window)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]  # no addresses in cache keys
    if hit(f"{name}:{digest}:{slot}", limit, window):
        return None
    return Refusal(datetime.fromtimestamp((slot + 1) * window, tz=UTC))


def check_password_reset(request: HttpRequest, email: str) -> Refusal | None:
    """Refusal when the address asked for or the client asked too often this hour."""
    refusals = [
        _over("reset-ip", client_ip(request), settings.PASSWORD_RESETS_PER_CLIENT_PER_HOUR, HOUR),
        _over("reset-email", email.strip().lower(),
              settings.PASSWORD_RESETS_PER_ADDRESS_PER_HOUR, HOUR),
    ]
    return next((refusal for refusal in refusals if refusal), None)


def check_sign_up(request: HttpRequest) -> Refusal | None:
    return _over("signup-ip", client_ip(request), settings.SIGNUPS_PER_CLIENT_PER_HOUR, HOUR)
