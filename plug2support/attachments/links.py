"""Signed, short-lived links to the files a visitor may see (SPEC N8).

An `<img>` or a download link cannot send the visitor's token in a header, and a token in a
URL ends up in access logs, browser history and proxies. So the visitor, with the token in a
header, asks for links (views.visitor_links), and each link carries a signature made with
the product's SECRET_KEY (django.core.signing) over one attachment, the visitor it was made
for and their company, and the time it was made. It opens that one file, for that visitor,
for LINK_SECONDS: copied from a log it opens nothing else, and soon nothing at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.core import signing
from django.urls import reverse
from django.utils import timezone

from plug2support.lib.ids import is_id

# Long enough for an image to load or a download to start after the link was asked for;
# the widget asks again for anything it has not opened in time (static/widget/widget.js).
LINK_SECONDS = 300
# A link signs these three numbers, under its own salt: no other signed value of the
# product (sessions, password resets) can pass for a link, nor a link for one of them.
SALT = "plug2support.attachments.link"


class LinkRefused(Exception):
    """A signed link that opens nothing: `code` is `link_expired` or `bad_link`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def link_url(widget_key: str, attachment_id: int, visitor_id: int, company_id: int) -> str:
    """The path of a signed link to the attachment, for this visitor of this company."""
    signed = signing.dumps([attachment_id, visitor_id, company_id], salt=SALT)
    path = reverse("widget_attachment_download", args=[widget_key, attachment_id])
    return f"{path}?{urlencode({'sig': signed})}"


def expires_at(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(seconds=LINK_SECONDS)


def read_link(signed: str, attachment_id: int) -> tuple[int, int]:
    """(visitor id, company id) that a link for this attachment was signed for; LinkRefused
    when it is out of date, altered, or signed for another attachment."""
    try:
        claims = signing.loads(signed, salt=SALT, max_age=LINK_SECONDS)
    except signing.SignatureExpired:
        raise LinkRefused("link_expired", "This link has expired; ask for a new one.") from None
    except signing.BadSignature:
        raise LinkRefused("bad_link", "This link is not valid.") from None
    if not (isinstance(claims, list) and len(claims) == 3 and all(is_id(c) for c in claims)
            and claims[0] == attachment_id):
        raise LinkRefused("bad_link", "This link is not valid.")
    return claims[1], claims[2]
