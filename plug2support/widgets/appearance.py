"""The widget's look (B3): its colours, readable whatever the brand colour, and its images —
checked by their bytes, stored under a name that changes with them, served from our origin
with headers that let nothing but an image through."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage

from plug2support.lib.uploads import (
    ALLOWED_KINDS,
    AttachmentError,
    CheckedFile,
    check_upload,
    image_size_error,
)

LOGO_MAX_BYTES = 512 * 1024
CARD_IMAGE_MAX_BYTES = 2 * 1024 * 1024
ASSET_KINDS = ("launcher", "brand", "card")
_COLOR = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
WHITE, INK = "#ffffff", "#000000"
MIN_TEXT_CONTRAST = 4.5  # WCAG AA for normal text


class AppearanceError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_color(raw: object) -> str:
    """'#4F46E5', '4f46e5' or '#abc' → '#4f46e5' / '#aabbcc'; AppearanceError otherwise."""
    match = _COLOR.match(raw.strip()) if isinstance(raw, str) else None
    if match is None:
        raise AppearanceError("A colour is written like #4f46e5 (a # and six hex digits).")
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return "#" + digits


def _luminance(color: str) -> float:
    """WCAG 2 relative luminance of '#rrggbb'."""
    def channel(hex2: str) -> float:
        c = int(hex2, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(color[i:i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@dataclass(frozen=True)
class Palette:
    brand: str
    on_brand: str   # text and icons on the brand colour: white or black, whichever reads
    ratio: float    # their contrast


def palette(brand: str) -> Palette:
    """The text colour on the brand colour is chosen for contrast, so a brand colour never
    makes the header, the launcher or the visitor's own messages unreadable; one that
    reaches neither AA with white nor with black is refused by check_brand_color."""
    on_white, on_ink = contrast(brand, WHITE), contrast(brand, INK)
    return Palette(brand, WHITE if on_white >= on_ink else INK, max(on_white, on_ink))


def check_brand_color(raw: object) -> str:
    color = parse_color(raw)
    chosen = palette(color)
    if chosen.ratio < MIN_TEXT_CONTRAST:  # mathematically ≥ 4.58 with white or black
        raise AppearanceError(f"Text on {color} would not be readable "
                              f"({chosen.ratio:.1f}:1, at least 4.5:1 is needed).")
    return color


# --- images ---------------------------------------------------------------------------------

def check_image(stream: IO[bytes] | Any, name: object, *,
                limit: int = LOGO_MAX_BYTES) -> CheckedFile:
    """An uploaded image checked by its bytes: PNG, JPEG, GIF or WebP (SVG and anything else
    refused, with the reason). The caller stores it (store_image) and closes it."""
    try:
        checked = check_upload(stream, name, limit=limit)
    except AttachmentError as error:
        if error.code == "too_large":
            raise AppearanceError(f"This image is too large: at most {limit // 1024} KB.") \
                from None
        if error.code == "empty":
            raise AppearanceError("The file is empty.") from None
        raise AppearanceError(IMAGES_ONLY) from None
    if not checked.is_image:
        checked.close()
        raise AppearanceError(IMAGES_ONLY)
    refused = image_size_error(checked)
    if refused:
        checked.close()
        raise AppearanceError(refused)
    return checked


def store_image(checked: CheckedFile, *, widget_key: str, kind: str) -> str:
    """Store a checked image; its storage name names its content (a changed image gets a new
    address, so browsers may cache one for good)."""
    assert kind in ASSET_KINDS
    try:
        stored = f"widgets/{widget_key}/{kind}-{checked.sha256[:20]}.{checked.kind.extensions[0]}"
        if not default_storage.exists(stored):
            checked.content.seek(0)
            default_storage.save(stored, File(checked.content))
        return stored
    finally:
        checked.close()


IMAGES_ONLY = ("This is not an image we accept: use a PNG, JPEG, GIF or WebP image (SVG is "
               "not accepted: it can carry scripts).")


# What a stored image's extension (the first of its kind's, store_image) is served as.
CONTENT_TYPES = {kind.extensions[0]: kind.content_type for kind in ALLOWED_KINDS
                 if kind.is_image}


def asset_url(widget_key: str, stored: str) -> str:
    """The public address of a stored image: /widget/assets/<key>/<file>."""
    if not stored:
        return ""
    return f"{settings.PUBLIC_URL}/widget/assets/{widget_key}/{stored.rsplit('/', 1)[-1]}"
