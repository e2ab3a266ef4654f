"""The widget's look and layout (B3, B4) and its settings (B5): what the form refuses and
why, images checked by their bytes and served only as images, the configuration the loader
reads, the frame's cards, and the preview — each with two companies."""

from __future__ import annotations

import json
import re
import struct
import zlib
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from plug2support.widgets.appearance import contrast, palette, parse_color
from plug2support.widgets.models import Widget, WidgetCard

from .conftest import Tenant, logged_in_client


def png(width: int = 20, height: int = 20, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A real PNG image, made by hand (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                               0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


LOOK = {"save_look": "1", "title": "Hi!", "alignment": "right", "spacing_side": "20",
        "spacing_bottom": "20", "appearance": "light", "brand_color": "#4f46e5"}


def save_look(client: Client, widget: Widget, **changes: Any) -> Any:
    return client.post(f"/settings/widgets/{widget.pk}/", {**LOOK, **changes})


def test_the_text_on_the_brand_colour_is_whichever_of_white_and_black_reads_better(
        db: Any) -> None:
    assert palette("#4f46e5").on_brand == "#ffffff"   # indigo: white text
    assert palette("#facc15").on_brand == "#000000"   # yellow: black text
    for color in ("#777777", "#ff0000", "#00ff00", "#0000ff", "#808080"):
        chosen = palette(color)
        assert chosen.ratio >= 4.5 and contrast(color, chosen.on_brand) == chosen.ratio
    assert parse_color("#ABC") == "#aabbcc" and parse_color("4F46E5") == "#4f46e5"


def test_the_owner_sets_the_look_and_the_loader_and_frame_get_it(
        acme: Tenant, globex: Tenant, client: Client) -> None:
    owner = logged_in_client(acme.owner)
    done = save_look(owner, acme.widget, title="Welcome to Acme", alignment="left",
                     spacing_side="32", spacing_bottom="48", appearance="dark",
                     brand_color="#FACC15", search_enabled="on")
    assert done.status_code == 302
    widget = Widget.objects.get(pk=acme.widget.pk)
    assert (widget.alignment, widget.spacing_side, widget.spacing_bottom, widget.appearance,
            widget.brand_color, widget.search_enabled) == ("left", 32, 48, "dark", "#facc15",
                                                           True)
    config = client.get(f"/widget/api/{acme.widget.key}/config").json()
    assert config["title"] == "Welcome to Acme"
    assert config["look"] == {"alignment": "left", "side": 32, "bottom": 48,
                              "brand": "#facc15", "on_brand": "#000000", "launcher_logo": None}
    other = client.get(f"/widget/api/{globex.widget.key}/config").json()
    assert other["look"]["alignment"] == "right" and other["look"]["brand"] == "#4f46e5"
    frame = client.get(f"/widget/frame/{acme.widget.key}/").content.decode()
    assert '<html lang="en" class="dark">' in frame and "Welcome to Acme" in frame


@pytest.mark.parametrize(("changes", "message"), [
    ({"brand_color": "red"}, "A colour is written like #4f46e5"),
    ({"brand_color": "#12345"}, "A colour is written like #4f46e5"),
    ({"spacing_side": "201"}, "less than or equal to 200"),
    ({"spacing_bottom": "-1"}, "greater than or equal to 0"),
    ({"alignment": "center"}, "Select a valid choice"),
    ({"appearance": "neon"}, "Select a valid choice"),
])
def test_bad_look_settings_are_refused_with_the_reason_and_change_nothing(
        acme: Tenant, changes: dict[str, str], message: str) -> None:
    owner = logged_in_client(acme.owner)
    page = save_look(owner, acme.widget, **changes)
    assert page.status_code == 200 and message in page.content.decode()
    widget = Widget.objects.get(pk=acme.widget.pk)
    assert (widget.brand_color, widget.spacing_side, widget.alignment) == ("#4f46e5", 20,
                                                                          "right")


@pytest.mark.parametrize(("name", "content", "message"), [
    ("logo.png", b"this is not an image at all", "not an image we accept"),
    ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
     "SVG is not accepted"),
    ("logo.png", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "not an image we accept"),
    ("logo.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF",
     "not an image we accept"),
    ("big.png", png(20, 20) + b"\x00" * (600 * 1024), "too large"),
])
def test_logos_that_are_not_images_or_too_large_are_refused(
        acme: Tenant, name: str, content: bytes, message: str) -> None:
    owner = logged_in_client(acme.owner)
    page = save_look(owner, acme.widget,
                     launcher_logo_file=SimpleUploadedFile(name, content))
    assert page.status_code == 200 and message in page.content.decode()
    assert Widget.objects.get(pk=acme.widget.pk).launcher_logo == ""


def test_a_logo_is_stored_by_its_bytes_and_served_only_as_an_image(
        acme: Tenant, globex: Tenant, client: Client) -> None:
    owner = logged_in_client(acme.owner)
    image = png(64, 64)
    save_look(owner, acme.widget, launcher_logo_file=SimpleUploadedFile("x.png", image),
              brand_logo_file=SimpleUploadedFile("brand.png", png(120, 30, (10, 10, 10))))
    widget = Widget.objects.get(pk=acme.widget.pk)
    url = client.get(f"/widget/api/{acme.widget.key}/config").json()["look"]["launcher_logo"]
    assert url.endswith(widget.launcher_logo.rsplit("/", 1)[-1])
    served = client.get(url.split("8000", 1)[-1] if "8000" in url else url)
    assert served.status_code == 200 and served.content == image
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in served["Cache-Control"]
    name = widget.launcher_logo.rsplit("/", 1)[-1]
    # Another widget's key, or a file the widget does not use: nothing.
    assert client.get(f"/widget/assets/{globex.widget.key}/{name}").status_code == 404
    assert client.get(f"/widget/assets/{acme.widget.key}/launcher-0000.png").status_code == 404
    frame = client.get(f"/widget/frame/{acme.widget.key}/").content.decode()
    assert widget.brand_logo.rsplit("/", 1)[-1] in frame
    save_look(owner, acme.widget, remove_launcher_logo="on")
    assert Widget.objects.get(pk=acme.widget.pk).launcher_logo == ""
    assert client.get(f"/widget/assets/{acme.widget.key}/{name}").status_code == 404


def test_cards_are_added_ordered_moved_and_deleted_and_shown_escaped(
        acme: Tenant, globex: Tenant, client: Client) -> None:
    owner = logged_in_client(acme.owner)
    url = f"/settings/widgets/{acme.widget.pk}/"
    owner.post(url, {"add_card": "1", "title": "New: <b>winter</b> blend",
                     "description": "Roasted <script>x()</script> this week",
                     "link": "https://acme.example/winter",
                     "image_file": SimpleUploadedFile("w.png", png())})
    owner.post(url, {"add_card": "1", "title": "Opening hours", "description": "", "link": ""})
    cards = list(WidgetCard.objects.filter(widget=acme.widget))
    assert [c.title for c in cards] == ["New: <b>winter</b> blend", "Opening hours"]
    frame = client.get(f"/widget/frame/{acme.widget.key}/").content.decode()
    assert "New: &lt;b&gt;winter&lt;/b&gt; blend" in frame
    assert "<script>x()" not in frame and "&lt;script&gt;x()" in frame
    assert 'href="https://acme.example/winter" target="_blank" rel="noopener noreferrer"' in frame
    assert cards[0].image and cards[0].image.rsplit("/", 1)[-1] in frame
    owner.post(url, {"card_action": "down", "card": str(cards[0].pk)})
    assert list(WidgetCard.objects.filter(widget=acme.widget).values_list(
        "title", flat=True)) == ["Opening hours", "New: <b>winter</b> blend"]
    # Another company's card is not found through this widget.
    theirs = WidgetCard.objects.create(widget=globex.widget, title="Theirs")
    assert owner.post(url, {"card_action": "delete", "card": str(theirs.pk)}).status_code == 404
    owner.post(url, {"card_action": "delete", "card": str(cards[0].pk)})
    assert list(WidgetCard.objects.filter(widget=acme.widget).values_list(
        "title", flat=True)) == ["Opening hours"]
    assert WidgetCard.objects.filter(pk=theirs.pk).exists()


@pytest.mark.parametrize(("link", "message"), [
    ("javascript:alert(document.cookie)", "Only http:// and https:// links are allowed"),
    ("JavaScript:alert(1)", "Only http:// and https:// links are allowed"),
    ("data:text/html,<script>1</script>", "Only http:// and https:// links are allowed"),
    ("https://", "This is not a web address"),
])
def test_card_links_that_are_not_web_addresses_are_refused_with_the_reason(
        acme: Tenant, link: str, message: str) -> None:
    owner = logged_in_client(acme.owner)
    page = owner.post(f"/settings/widgets/{acme.widget.pk}/",
                      {"add_card": "1", "title": "Sale", "link": link})
    assert page.status_code == 200 and message in page.content.decode()
    assert not WidgetCard.objects.exists()


def test_the_preview_is_for_the_companys_admins(acme: Tenant, globex: Tenant) -> None:
    owner = logged_in_client(acme.owner)
    page = owner.get(f"/settings/widgets/{acme.widget.pk}/preview")
    assert page.status_code == 200
    config = json.loads(re.search(r'id="p2s-config"[^>]*>(.*?)</script>',
                                  page.content.decode(), re.S).group(1))  # type: ignore[union-attr]
    assert config["preview"] is True and config["look"]["brand"] == "#4f46e5"
    assert page["X-Frame-Options"] == "SAMEORIGIN"
    assert owner.get(f"/settings/widgets/{globex.widget.pk}/preview").status_code == 404
    operator = logged_in_client(acme.operators[0])
    assert operator.get(f"/settings/widgets/{acme.widget.pk}/preview").status_code == 403
    assert operator.post(f"/settings/widgets/{acme.widget.pk}/",
                         {**LOOK, "title": "Hacked"}).status_code == 403
    assert Widget.objects.get(pk=acme.widget.pk).title != "Hacked"
