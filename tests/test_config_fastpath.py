"""The widget configuration served off Django's request path (ASGI fast path): the same
answers as the view, ETag and 304, origin checks, and a saved widget seen at once."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from .conftest import logged_in_client, make_tenant


def get(url: str, **headers: str) -> tuple[int, Any, bytes]:
    """Status, headers (case-insensitive) and body."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_config_through_the_server(live: str) -> None:
    acme, globex = make_tenant("Acme", allowed_origins="https://shop.example"), make_tenant("G")
    url = f"{live}/widget/api/{acme.widget.key}/config"
    status, headers, body = get(url, Origin="https://shop.example")
    assert status == 200 and json.loads(body)["title"] == acme.widget.title
    assert headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert headers["Vary"] == "Origin"
    status, headers, body = get(url, Origin="https://shop.example",
                                **{"If-None-Match": headers["ETag"]})
    assert status == 304 and body == b""
    status, _, body = get(url, Origin="https://evil.example")
    assert status == 403 and json.loads(body)["error"]["code"] == "origin_not_allowed"
    status, _, body = get(f"{live}/widget/api/wk_nope/config", Origin="https://a.example")
    assert status == 404 and json.loads(body)["error"]["code"] == "widget_not_found"
    # Another company's widget answers for its own settings only (any origin here).
    assert get(f"{live}/widget/api/{globex.widget.key}/config",
               Origin="https://evil.example")[0] == 200


def test_a_saved_widget_is_served_fresh_at_once(live: str, settings: Any) -> None:
    acme = make_tenant("Acme")
    url = f"{live}/widget/api/{acme.widget.key}/config"
    assert json.loads(get(url, Origin="https://a.example")[2])["title"] == acme.widget.title
    owner = logged_in_client(acme.owner)
    owner.post(f"/settings/widgets/{acme.widget.pk}/",
               {"name": "Site", "allowed_origins": "https://b.example"})
    owner.post(f"/settings/widgets/{acme.widget.pk}/", {
        "save_look": "1", "title": "Bonjour !", "alignment": "right", "spacing_side": "20",
        "spacing_bottom": "20", "appearance": "light", "brand_color": "#4f46e5"})
    # The cache entry is dropped through the bus (asynchronously): poll for it, bounded.
    for _ in range(50):
        status, _, body = get(url, Origin="https://b.example")
        if status == 200 and json.loads(body)["title"] == "Bonjour !":
            break
    assert json.loads(body)["title"] == "Bonjour !"
    assert get(url, Origin="https://a.example")[0] == 403
