"""M10: the profile page at /account/ — the person's own name, avatar, appearance, password
and sessions (the alerts page and two-factor page are linked, not duplicated)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .models import Membership, Theme, User, UserSession
from .profile import (
    AVATAR_TYPES,
    ProfileError,
    do_change_password,
    do_remove_avatar,
    do_set_avatar,
    do_update_profile,
)
from .sessions import describe_agent, end_other_sessions, end_session, live_sessions


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "details":
                do_update_profile(user, name=request.POST.get("name"),
                                  theme=request.POST.get("theme"))
                messages.success(request, "Your profile is saved.")
            elif action == "avatar":
                upload = request.FILES.get("avatar")
                if upload is None:
                    raise ProfileError("Choose an image to upload.")
                do_set_avatar(user, upload, upload.name)
                messages.success(request, "Your picture is saved.")
            elif action == "remove_avatar":
                do_remove_avatar(user)
                messages.success(request, "Your picture is removed.")
            elif action == "password":
                ended = do_change_password(request, user, current=request.POST.get("current"),
                                           new=request.POST.get("new"),
                                           repeat=request.POST.get("repeat"))
                messages.success(request, "Your password is changed; "
                                          f"{_sessions(ended)} signed out.")
            else:
                raise ProfileError("Unknown action.")
        except ProfileError as error:
            messages.error(request, str(error))
            return render(request, "accounts/profile.html", _context(request, user), status=400)
        return redirect("profile")
    return render(request, "accounts/profile.html", _context(request, user))


def _context(request: HttpRequest, user: User) -> dict[str, object]:
    this = request.session.session_key
    sessions = [{"id": row.pk, "device": describe_agent(row.user_agent), "ip": row.ip,
                 "last_active": row.last_active_at, "current": row.session_key == this}
                for row in live_sessions(user.pk)]
    sessions.sort(key=lambda session: not session["current"])  # this one first, then by use
    return {"person": user, "avatar": user.avatar_url, "themes": Theme.choices,
            "sessions": sessions}


def _sessions(count: int) -> str:
    if count == 0:
        return "no other session"
    return f"{count} other session{'s' if count != 1 else ''}"


def _me(request: HttpRequest) -> int:
    assert request.user.pk is not None  # login_required
    return int(request.user.pk)


@login_required
@require_POST
def sign_out_others(request: HttpRequest) -> HttpResponse:
    ended = end_other_sessions(_me(request), request.session.session_key)
    messages.success(request, f"{_sessions(ended).capitalize()} signed out.")
    return redirect("profile")


@login_required
@require_POST
def sign_out_session(request: HttpRequest, session_id: int) -> HttpResponse:
    row = UserSession.objects.filter(pk=session_id, user_id=_me(request)).first()
    if row is None:
        raise Http404("No such session.")
    if row.session_key == request.session.session_key:
        messages.error(request, "To end this session, log out.")
    else:
        end_session(row)
        messages.success(request, "That session is signed out.")
    return redirect("profile")


@login_required
def avatar(request: HttpRequest, user_id: int, name: str) -> HttpResponse:
    """A person's picture, for themselves and for people sharing a company with them."""
    shares = user_id == request.user.pk or Membership.objects.filter(
        user_id=user_id, company__memberships__user_id=_me(request)).exists()
    person = User.objects.filter(pk=user_id).first() if shares else None
    extension = name.rsplit(".", 1)[-1]
    if (person is None or person.avatar != f"avatars/{user_id}/{name}"
            or extension not in AVATAR_TYPES or not default_storage.exists(person.avatar)):
        raise Http404("No such picture.")
    with default_storage.open(person.avatar, "rb") as handle:
        response = HttpResponse(handle.read(), content_type=AVATAR_TYPES[extension])
    response["Cache-Control"] = "private, max-age=31536000, immutable"  # the name is its hash
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
