"""The composer's emoji list (M2, docs/protocol.md §6): for members only, small, with names
and shortcodes, and cached: a week in the browser, then a 304 by its ETag."""

from __future__ import annotations

from django.test import Client

from plug2support.lib.emoji_set import emoji_rows

from .conftest import Tenant, logged_in_client


def test_a_member_gets_the_list_with_names_and_shortcodes_compressed_and_cacheable(
        acme: Tenant) -> None:
    client = logged_in_client(acme.operators[0])
    response = client.get("/console/emoji.json", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert response["Cache-Control"] == "private, max-age=604800"
    etag = response["ETag"]
    # The same list, asked again with its ETag: nothing to download.
    again = client.get("/console/emoji.json", headers={"If-None-Match": etag})
    assert again.status_code == 304
    plain = client.get("/console/emoji.json")
    rows = plain.json()["emoji"]
    assert 1700 < len(rows) < 2000
    by_char = {r["e"]: r for r in rows}
    assert by_char["👍"]["n"] == "thumbs up"
    assert {"thumbs_up", "thumbsup", "+1"} <= set(by_char["👍"]["s"])
    assert "smile" in by_char["😄"]["s"]
    # No skin-tone variants (the picker stays small); the popular ones come first.
    assert not any("\U0001f3fd" in r["e"] for r in rows)
    assert rows[0]["e"] == "🙂"


def test_nobody_logged_out_gets_it() -> None:
    response = Client().get("/console/emoji.json")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_every_row_has_an_emoji_a_name_and_lowercase_shortcodes_once() -> None:
    for row in emoji_rows():
        assert row["e"] and row["n"] and row["s"]
        assert all(code == code.lower() and " " not in code for code in row["s"])
        assert len(set(row["s"])) == len(row["s"])
    assert len({r["e"] for r in emoji_rows()}) == len(emoji_rows())
