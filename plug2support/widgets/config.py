"""The widget's public configuration, as the loader asks for it (GET …/config): the body
and its ETag, rendered once per widget into the cache (cache.py) and served by fastpath.py."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings

from .appearance import asset_url, palette


def render(widget: Any) -> tuple[bytes, str]:
    colors = palette(widget.brand_color)
    body = json.dumps({
        "widget": widget.key,
        "title": widget.title,
        "frame_url": f"{settings.PUBLIC_URL}/widget/frame/{widget.key}/",
        "heartbeat_seconds": settings.SITE_HEARTBEAT_SECONDS,
        # What the loader draws before the frame exists (B3): the launcher and where it sits.
        "look": {"alignment": widget.alignment, "side": widget.spacing_side,
                 "bottom": widget.spacing_bottom, "brand": colors.brand,
                 "on_brand": colors.on_brand,
                 "launcher_logo": asset_url(widget.key, widget.launcher_logo) or None},
        # N7: only visitors the site identifies may chat.
        "require_identity": widget.require_identity,
    }, separators=(",", ":")).encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
