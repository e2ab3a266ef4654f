"""Two-factor authentication (N5): TOTP devices and recovery codes (django-otp), the
half-logged-in state between the password and the code, and who must have it.

A user with a confirmed TOTP device is not logged in by the password alone: the login view
keeps a pending login in the (server-side) session, short-lived, and only the code step calls
Django's login(). A company owner can require two-factor for every member; a member of several
companies must have it if any of them requires it (the login is the person's, not the
company's). docs/architecture.md, "Two-factor authentication", says why django-otp.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import segno
from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import Membership, User
from .sessions import PUBLIC_PREFIXES

PENDING_KEY = "twofa_pending"
FRESH_CODES_KEY = "twofa_fresh_codes"
RECOVERY_CODES = 10
MAX_CODE_LENGTH = 32  # longer input is refused before any lookup


def confirmed_totp(user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).first()


def has_two_factor(user: Any) -> bool:
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists()


def is_required(user: Any) -> bool:
    """Required when any company the user belongs to requires it."""
    return Membership.objects.filter(user_id=user.pk, company__require_two_factor=True).exists()


def session_verified(session: Any) -> bool:
    return bool(session.get(DEVICE_ID_SESSION_KEY))


def session_passes(user: Any, session: Any) -> bool:
    """Whether a logged-in session may use the console (pages and the operator socket): a
    user whose company requires two-factor needs a session that passed the code step (or
    confirmed a device in it)."""
    return not is_required(user) or session_verified(session)


# --- codes ------------------------------------------------------------------------------------

def normalise_code(raw: object) -> str:
    """What the person typed, without spaces and dashes, lower case (recovery codes are
    stored so); '' for anything that cannot be a code."""
    text = str(raw or "")
    if len(text) > MAX_CODE_LENGTH:
        return ""
    text = re.sub(r"[\s-]", "", text).lower()
    return text if re.fullmatch(r"[a-z0-9]{6,16}", text) else ""


def throttled_until(user: Any) -> datetime | None:
    """When django-otp's throttle (1, 2, 4, 8 ... seconds after successive wrong codes, per
    device) lets this user try a code again; None when now."""
    devices: list[Any] = [*TOTPDevice.objects.filter(user_id=user.pk, confirmed=True),
                          *StaticDevice.objects.filter(user_id=user.pk, confirmed=True)]
    until = None
    for device in devices:
        allowed, info = device.verify_is_allowed()
        if not allowed and info and info.get("locked_until"):
            until = max(until or info["locked_until"], info["locked_until"])
    return until


def locked_until(device: Any) -> datetime | None:
    """Until when one device's throttle refuses a code, or None."""
    allowed, info = device.verify_is_allowed()
    return None if allowed or not info else info.get("locked_until")


def check_code(user: Any, raw: object) -> Any | None:
    """The device a correct code belongs to (a recovery code is used up), else None; a wrong
    code counts against the device it was tried on. Call throttled_until first."""
    code = normalise_code(raw)
    totp = confirmed_totp(user)
    if not code or totp is None:
        if totp is not None:
            totp.throttle_increment()
        return None
    if code.isdigit() and len(code) == totp.digits:
        return totp if totp.verify_token(code) else None
    static = StaticDevice.objects.filter(user_id=user.pk, confirmed=True).first()
    if static is None:
        totp.throttle_increment()
        return None
    return static if static.verify_token(code) else None


def new_recovery_codes(user: Any) -> list[str]:
    """Replace the user's recovery codes with RECOVERY_CODES new ones (shown once)."""
    device, _ = StaticDevice.objects.get_or_create(user_id=user.pk, name="recovery",
                                                   defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def remaining_recovery_codes(user: Any) -> int:
    return StaticToken.objects.filter(device__user_id=user.pk).count()


def turn_off(user: Any) -> None:
    TOTPDevice.objects.filter(user_id=user.pk).delete()
    StaticDevice.objects.filter(user_id=user.pk).delete()


def pending_device(user: Any) -> TOTPDevice:
    """The unconfirmed device being set up (one per user, kept across reloads of the page)."""
    device = TOTPDevice.objects.filter(user_id=user.pk, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user_id=user.pk, name="authenticator",
                                           confirmed=False)
    return device


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL as an inline SVG, made here (nothing fetched)."""
    return str(segno.make(device.config_url, error="m").svg_inline(scale=5, border=2))


def secret_text(device: TOTPDevice) -> str:
    from base64 import b32encode
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


# --- the half-logged-in state -----------------------------------------------------------------

def start_pending(request: HttpRequest, user: User, redirect_to: str) -> None:
    """After the password: remember who, by which backend and until when, in a new session
    (cycled, as login() would), without logging in."""
    request.session.cycle_key()
    request.session[PENDING_KEY] = {"user": user.pk, "backend": getattr(user, "backend", ""),
                                    "since": time.time(), "next": redirect_to}


def pending_user(request: HttpRequest) -> tuple[User, dict[str, Any]] | None:
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    if time.time() - float(pending.get("since", 0)) > settings.TWO_FACTOR_PENDING_SECONDS:
        request.session.pop(PENDING_KEY, None)
        return None
    user = User.objects.filter(pk=int(pending.get("user") or 0), is_active=True).first()
    return (user, pending) if user is not None else None


# --- pages: required two-factor ---------------------------------------------------------------

# Where a member who must set up two-factor may still go.
# The public answers (sessions.PUBLIC_PREFIXES), and the pages a member must reach to
# comply: the set-up itself and logging out.
_OPEN_PREFIXES = PUBLIC_PREFIXES + ("/account/two-factor/", "/accounts/logout/")


class TwoFactorRequiredMiddleware:
    """A logged-in member whose company requires two-factor and whose session has not passed
    it goes to the set-up page (without a device) or logs in again (with one), from every
    page but the set-up page itself, logging out and the public endpoints."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The path first: reading the user reads the session, and a public answer (the
        # widget's config) must not vary by cookie.
        if request.path.startswith(_OPEN_PREFIXES):
            return self.get_response(request)
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated
                and not session_passes(user, request.session)):
            if has_two_factor(user):
                # A session from before the device: it never passed the code step.
                logout(request)
                return redirect(f"{reverse('login')}?next={request.path}")
            return redirect("two_factor")
        return self.get_response(request)
