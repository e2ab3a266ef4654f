"""Allowed origins (B6) are stored as browsers send them: scheme and host in lower case, the
scheme's default port dropped, an international host in its IDNA (punycode) form; a port
outside 1–65535 is refused with a clear message. They feed the config's 403 (the view and
the ASGI fast path), the frame's CSP frame-ancestors and its postMessage check."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from plug2support.widgets.models import Widget
from plug2support.widgets.origins import InvalidOrigin, parse_origin

from .conftest import Tenant, logged_in_client, make_tenant
from .test_config_fastpath import get


def save_origins(tenant: Tenant, text: str) -> Any:
    return logged_in_client(tenant.owner).post(
        f"/settings/widgets/{tenant.widget.pk}/", {"name": "Site", "allowed_origins": text})


def frame_ancestors(client: Client, widget: Widget) -> list[str]:
    csp = client.get(f"/widget/frame/{widget.key}/")["Content-Security-Policy"]
    [directive] = [d for d in csp.split(";") if d.strip().startswith("frame-ancestors")]
    return directive.split()[1:]


@pytest.mark.parametrize(("typed", "stored"), [
    ("https://Shop.Example:443", "https://shop.example"),
    ("HTTP://shop.example:80/any/path?q=1", "http://shop.example"),
    ("https://shop.example:80", "https://shop.example:80"),   # not https's default: kept
    ("http://localhost:8001", "http://localhost:8001"),
    ("https://bücher.example", "https://xn--bcher-kva.example"),
    ("https://BÜCHER.example:443", "https://xn--bcher-kva.example"),
    ("https://straße.example", "https://xn--strae-oqa.example"),  # as browsers: not "ss"
    ("http://[::1]:8001", "http://[::1]:8001"),
])
def test_an_origin_is_stored_as_browsers_send_it(typed: str, stored: str) -> None:
    assert parse_origin(typed) == stored


@pytest.mark.parametrize(("typed", "reason"), [
    ("https://shop.example:99999", "The port must be a number from 1 to 65535"),
    ("https://shop.example:0", "The port must be a number from 1 to 65535"),
    ("https://shop.example:http", "The port must be a number from 1 to 65535"),
    ("https://user:pw@shop.example", "no user name or password"),
    ("https://shop.example;script-src", "Not a valid host name"),
    ("https://*.example.com", "Not a valid host name"),
    ("https://xn--ü.example", "Not a valid international domain name"),
    ("ftp://shop.example", "Not an origin"),
])
def test_what_is_not_an_origin_is_refused_with_its_reason(typed: str, reason: str) -> None:
    with pytest.raises(InvalidOrigin, match=reason.replace("*", r"\*")):
        parse_origin(typed)


def test_a_default_port_typed_in_the_form_still_lets_the_site_in(acme: Tenant,
                                                                  client: Client) -> None:
    save_origins(acme, "https://Shop.Example:443\nhttp://Blog.Example:80")
    acme.widget.refresh_from_db()
    assert acme.widget.allowed_origins == "https://shop.example\nhttp://blog.example"
    config = f"/widget/api/{acme.widget.key}/config"
    assert client.get(config, HTTP_ORIGIN="https://shop.example").status_code == 200
    assert client.get(config, HTTP_ORIGIN="http://blog.example").status_code == 200
    assert client.get(config, HTTP_ORIGIN="https://evil.example").status_code == 403
    assert frame_ancestors(client, acme.widget) == ["https://shop.example", "http://blog.example"]
    page = client.get(f"/widget/frame/{acme.widget.key}/").content.decode()
    assert '"origins": ["https://shop.example", "http://blog.example"]' in page


def test_an_international_host_goes_into_the_csp_in_punycode(acme: Tenant,
                                                              client: Client) -> None:
    save_origins(acme, "https://bücher.example")
    acme.widget.refresh_from_db()
    assert acme.widget.allowed_origins == "https://xn--bcher-kva.example"
    assert frame_ancestors(client, acme.widget) == ["https://xn--bcher-kva.example"]
    config = f"/widget/api/{acme.widget.key}/config"
    assert client.get(config, HTTP_ORIGIN="https://xn--bcher-kva.example").status_code == 200


def test_a_port_out_of_range_is_a_form_error_and_nothing_is_saved(acme: Tenant) -> None:
    before = acme.widget.allowed_origins
    response = save_origins(acme, "https://ok.example\nhttps://shop.example:99999")
    assert response.status_code == 200  # the form again, with its error
    page = response.content.decode()
    assert "The port must be a number from 1 to 65535: https://shop.example:99999" in page
    acme.widget.refresh_from_db()
    assert acme.widget.allowed_origins == before


def test_rows_saved_before_are_read_as_browsers_send_and_a_bad_one_opens_nothing(
        acme: Tenant, globex: Tenant, client: Client) -> None:
    # Stored by the earlier form, which kept the port and the host as typed.
    Widget.objects.filter(pk=acme.widget.pk).update(
        allowed_origins="https://shop.example:443\nhttps://bücher.example")
    Widget.objects.filter(pk=globex.widget.pk).update(
        allowed_origins="https://shop.example:99999")
    acme.widget.refresh_from_db()
    globex.widget.refresh_from_db()
    assert acme.widget.allows_origin("https://shop.example")
    assert acme.widget.allows_origin("https://xn--bcher-kva.example")
    # Its only line does not parse: closed to every site, never open to all.
    assert not globex.widget.allows_origin("https://shop.example")
    assert not globex.widget.allows_origin("https://evil.example")
    assert frame_ancestors(client, globex.widget) == ["'none'"]
    assert client.get(f"/widget/api/{globex.widget.key}/config",
                      HTTP_ORIGIN="https://evil.example").status_code == 403


def test_the_fast_path_lets_the_site_in_after_a_default_port_was_typed(live: str) -> None:
    acme = make_tenant("Acme")
    save_origins(acme, "https://Shop.Example:443")
    url = f"{live}/widget/api/{acme.widget.key}/config"
    status, _, body = get(url, Origin="https://shop.example")
    assert status == 200 and json.loads(body)["title"] == acme.widget.title
    assert get(url, Origin="https://evil.example")[0] == 403
