"""System checks for running the product in production (`manage.py check --deploy`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register
from django.core.management.base import CommandError


@register(Tags.security, deploy=True)
def check_secret_key_from_environment(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    # Django's own check (security.W009) sees a long random key and is content; but a key
    # from the var directory is one machine's, and `web` refuses to serve with it.
    if settings.SECRET_KEY_FROM_ENVIRONMENT:
        return []
    return [Warning(
        "SECRET_KEY is not set: this process uses the key the embedded default keeps in "
        "the var directory (P2S_VAR_DIR).",
        hint="Set the SECRET_KEY environment variable to a long random value, the same on "
             "every machine of the deployment; `web` refuses to start without it.",
        id="plug2support.W001")]


def require_secret_key_from_environment(process: str) -> None:
    """Refuse to start a production process (`web`, `worker`) on the var directory's key.

    N6: production signs sessions and links with its own key, the same on every machine; a
    worker on another key would mail links that the web processes refuse."""
    if settings.SECRET_KEY_FROM_ENVIRONMENT:
        return
    raise CommandError(
        f"SECRET_KEY is not set: {process} needs its own secret key. Set the SECRET_KEY "
        "environment variable to a long random value, the same on every machine, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'.")
