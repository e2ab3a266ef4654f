"""The installable console (M11): the web app manifest, the service worker and the page it
shows offline. All three are public and the same for everyone — they never read the session
(accounts/sessions.PUBLIC_PREFIXES), so nothing private can end up in the service worker's
cache through them, and the browser may fetch the manifest without cookies, as it does.

The service worker caches only the static shell: the files under /static/ listed here and
the offline page (docs/architecture.md, "Installable console and Web Push")."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.views.decorators.http import require_GET

SERVICE_WORKER = Path(__file__).with_name("service_worker.js")
THEME_COLOUR = "#4f46e5"  # the brand colour of app.css
BACKGROUND_COLOUR = "#f6f7fb"  # the console's page background (app.css --bg)
ICONS = [("console/icons/icon-192.png", "192x192", "any"),
         ("console/icons/icon-512.png", "512x512", "any"),
         ("console/icons/icon-maskable-512.png", "512x512", "maskable")]
OFFLINE_URL = "/offline/"


def _shell_files() -> list[str]:
    """The static files of the console's shell: its styles, scripts and icons, and the
    socket module they share with the widget. Every one is the same for every member."""
    found: set[str] = set()
    for finder in finders.get_finders():
        # The icons' SVG sources are not used by any page (the PNGs are made from them).
        for path, _storage in finder.list(["*.map", "icon*.svg", "badge.svg"]):
            path = path.replace("\\", "/")
            if path.startswith("console/") or path == "widget/live.js":
                found.add(path)
    return sorted(found)


def _offline_page() -> str:
    # Rendered without the request: no context processor runs, so no user, company or CSRF
    # token can be in it — it is cached and shown to whoever is signed in on this device.
    return render_to_string("push/offline.html")


@cache
def _shell() -> dict[str, object]:
    """The service worker's cache list and version. The version is a hash of everything
    cached and of the worker itself: a deploy that changes any of them changes the worker's
    bytes, so browsers install the new one, which fills a new cache and drops the old."""
    digest = hashlib.sha256(SERVICE_WORKER.read_bytes())
    urls = []
    for path in _shell_files():
        located = finders.find(path)
        if isinstance(located, str):
            digest.update(path.encode() + b"\0" + Path(located).read_bytes())
        urls.append(static(path))
    digest.update(_offline_page().encode())
    return {"version": digest.hexdigest()[:16], "offline": OFFLINE_URL,
            "urls": [*urls, OFFLINE_URL], "icon": static("console/icons/icon-192.png"),
            "badge": static("console/icons/badge-96.png")}


def shell() -> dict[str, object]:
    if settings.DEBUG:  # files change under `make run`: no stale list while developing
        _shell.cache_clear()
    return _shell()


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    body = {
        "id": "/inbox/",
        "name": "Plug2Support console",
        "short_name": "Plug2Support",
        "description": "Answer your customers' live chats and e-mail.",
        "start_url": "/inbox/",
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "icons": [{"src": static(path), "sizes": sizes, "type": "image/png", "purpose": purpose}
                  for path, sizes, purpose in ICONS],
    }
    response = JsonResponse(body, content_type="application/manifest+json")
    response["Cache-Control"] = "public, max-age=3600"
    return response


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The worker at the root, so its scope is the whole console; its settings are one
    JSON line ahead of its code (no template language inside JavaScript)."""
    source = f"const SHELL = {json.dumps(shell())};\n{SERVICE_WORKER.read_text()}"
    response = HttpResponse(source, content_type="text/javascript; charset=utf-8")
    # Always asked again: an old worker must never keep a browser on an old shell.
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_offline_page())
    response["Cache-Control"] = "no-cache"
    return response
