"""M10/N5: a person's logged-in sessions — recorded at login, listed on the profile, ended
one by one, all but this one, or all but this one on a password change.

Ending a session deletes Django's session row (its cookie logs nothing in any more) and
publishes `session_ended` on its topic, so every console socket opened with it closes with
4401 at once (realtime/endpoints/operator.py) — the same as logging out in that tab."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from plug2support.realtime.hub import publish_after_commit
from plug2support.realtime.topics import session_topic

from .models import User, UserSession

# last_active_at is written at most this often per session (one UPDATE, not one per page).
TOUCH_EVERY_SECONDS = 60


def _client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: the server sits behind a proxy that sets it (docs/deploy.md); a
    # forwarded header a client could forge is not shown as its address.
    return request.META.get("REMOTE_ADDR") or None


@receiver(user_logged_in, dispatch_uid="accounts.record_session")
def record_session(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
    if request.session.session_key is None:
        request.session.save()
    key = request.session.session_key
    assert key is not None
    UserSession.objects.update_or_create(session_key=key, defaults={
        "user": user, "ip": _client_ip(request), "last_active_at": timezone.now(),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300]})


def touch(request: HttpRequest) -> None:
    """Mark this session active now (called by the profile middleware after each page)."""
    key = request.session.session_key
    if not key:
        return
    since = timezone.now() - timedelta(seconds=TOUCH_EVERY_SECONDS)
    UserSession.objects.filter(session_key=key, last_active_at__lt=since).update(
        last_active_at=timezone.now())


def _store() -> Any:
    return import_module(settings.SESSION_ENGINE).SessionStore


def live_sessions(user_id: int) -> list[UserSession]:
    """The person's sessions that still log in, most recently active first; rows whose
    Django session has expired or been deleted are dropped on the way."""
    store = _store()
    live: list[UserSession] = []
    dead: list[UserSession] = []
    for row in UserSession.objects.filter(user_id=user_id).order_by("-last_active_at"):
        (live if store().exists(row.session_key) else dead).append(row)
    if dead:
        UserSession.objects.filter(pk__in=[row.pk for row in dead]).delete()
    return live


def end_session(row: UserSession) -> None:
    """Log that session out everywhere: its session row, its record, and its sockets."""
    _store()(session_key=row.session_key).delete()
    UserSession.objects.filter(pk=row.pk).delete()
    publish_after_commit(session_topic(row.session_key), {"type": "session_ended"})


def close_sockets_of_unverified_sessions(company_id: int, verified_key: str) -> int:
    """The company now requires two-factor (N5): every console socket of a member's session
    that did not pass the code step closes at once (4401, as at logout), so an open console
    stops working; the session itself stays, and its next page walks the member through
    setting two-factor up. How many sessions' sockets were closed."""
    store = _store()
    closed = 0
    for row in UserSession.objects.filter(user__memberships__company_id=company_id).distinct():
        data = store(session_key=row.session_key).load()
        if not data.get(verified_key):
            publish_after_commit(session_topic(row.session_key), {"type": "session_ended"})
            closed += 1
    return closed


def end_other_sessions(user_id: int, keep_key: str | None) -> int:
    """End every session of the person but `keep_key` (this one); how many were ended."""
    rows = UserSession.objects.filter(user_id=user_id).exclude(session_key=keep_key or "")
    ended = 0
    for row in rows:
        end_session(row)
        ended += 1
    return ended


def describe_agent(user_agent: str) -> str:
    """'Firefox on Linux'-like words from a user agent, by a few well-known tokens (no
    parser dependency here; a session list only needs to tell one device from another)."""
    ua = user_agent or ""
    browser = next((name for token, name in (
        ("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"), ("Safari/", "Safari")) if token in ua), "")
    system = next((name for token, name in (
        ("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
        ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux")) if token in ua), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"


# The installable console's manifest, service worker and offline page are public too
# (push/webapp.py): the same answer for everyone, cached by browsers and the worker.
PUBLIC_PREFIXES = ("/widget/", "/static/", "/health", "/help/", "/billing/stripe/", "/mail/",
                   "/manifest.webmanifest", "/sw.js", "/offline/")


class SessionActivityMiddleware:
    """Keeps each logged-in session's "last active" about right (one UPDATE a minute)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        response = self.get_response(request)
        # Public answers (the widget's, static files) never read the session: they must not
        # vary by cookie, and no console session is active through them.
        if request.path.startswith(PUBLIC_PREFIXES):
            return response
        if getattr(request, "user", None) is not None and request.user.is_authenticated:
            touch(request)
        return response
