"""M10: a person's own settings — name, avatar, appearance, password. check_* validates,
do_* writes (like accounts/actions.py)."""

from __future__ import annotations

from typing import IO, Any

from django.contrib.auth import password_validation, update_session_auth_hash
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import HttpRequest

from plug2support.lib.text import has_controls
from plug2support.lib.uploads import (
    ALLOWED_KINDS,
    AttachmentError,
    check_upload,
    image_size_error,
)

from .models import Theme, User, UserSession
from .sessions import end_other_sessions

AVATAR_MAX_BYTES = 512 * 1024
NAME_MAX = 150
IMAGES_ONLY = ("This is not an image we accept: use a PNG, JPEG, GIF or WebP image (SVG is "
               "not accepted: it can carry scripts).")
# What a stored avatar's extension is served as (accounts/views.py avatar).
AVATAR_TYPES = {kind.extensions[0]: kind.content_type for kind in ALLOWED_KINDS
                if kind.is_image}


class ProfileError(Exception):
    """A refused change; the message is shown to the person as is."""


def check_name(raw: object) -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    if not name:
        raise ProfileError("Your name cannot be empty.")
    if len(name) > NAME_MAX:
        raise ProfileError(f"Your name is too long: at most {NAME_MAX} characters.")
    if has_controls(name):
        raise ProfileError("Your name cannot hold control characters.")
    return name


def check_theme(raw: object) -> str:
    if raw not in Theme.values:
        raise ProfileError("Choose light, dark or follow the system.")
    return str(raw)


def do_update_profile(user: User, *, name: object, theme: object) -> None:
    user.name, user.theme = check_name(name), check_theme(theme)
    User.objects.filter(pk=user.pk).update(name=user.name, theme=user.theme)


def do_set_avatar(user: User, stream: IO[bytes] | Any, file_name: object) -> str:
    """Store an uploaded avatar, checked by its bytes (as the widget logos are); its storage
    name names its content, so a changed picture gets a new address."""
    try:
        checked = check_upload(stream, file_name, limit=AVATAR_MAX_BYTES)
    except AttachmentError as error:
        if error.code == "too_large":
            raise ProfileError(
                f"This image is too large: at most {AVATAR_MAX_BYTES // 1024} KB.") from None
        if error.code == "empty":
            raise ProfileError("The file is empty.") from None
        raise ProfileError(IMAGES_ONLY) from None
    try:
        if not checked.is_image:
            raise ProfileError(IMAGES_ONLY)
        refused = image_size_error(checked)
        if refused:
            raise ProfileError(refused)
        stored = f"avatars/{user.pk}/{checked.sha256[:20]}.{checked.kind.extensions[0]}"
        if not default_storage.exists(stored):
            checked.content.seek(0)
            default_storage.save(stored, File(checked.content))
    finally:
        checked.close()
    User.objects.filter(pk=user.pk).update(avatar=stored)
    user.avatar = stored
    return stored


def do_remove_avatar(user: User) -> None:
    User.objects.filter(pk=user.pk).update(avatar="")
    user.avatar = ""


def do_change_password(request: HttpRequest, user: User, *, current: object,
                       new: object, repeat: object) -> int:
    """Change the password: the current one is required. Every OTHER session of the person
    ends (their sockets close with 4401); this one stays logged in. Returns how many ended."""
    if not isinstance(current, str) or not user.check_password(current):
        raise ProfileError("Your current password is not right.")
    if not isinstance(new, str) or not new:
        raise ProfileError("Type a new password.")
    if new != repeat:
        raise ProfileError("The two new passwords differ.")
    try:
        password_validation.validate_password(new, user)
    except ValidationError as error:
        raise ProfileError(" ".join(error.messages)) from None
    with transaction.atomic():
        user.set_password(new)
        user.save(update_fields=["password"])
        # The session's hash follows the new password; Django gives it a new key too, which
        # its record follows (else it would count as another session and be ended).
        old_key = request.session.session_key
        update_session_auth_hash(request, user)
        new_key = request.session.session_key
        if old_key and new_key and old_key != new_key:
            UserSession.objects.filter(session_key=old_key).update(session_key=new_key)
        return end_other_sessions(user.pk, new_key)
