"""The resolution mail's signed link to the one-question page (K2).

The link names one RatingRequest, signed with Django's TimestampSigner under its own salt
(no other signed value of the product opens it) and good for LINK_DAYS. It is usable once:
not by remembering tokens, but because the request's Rating is unique — a used link finds
it and says so. It travels in the query string (`?t=`), whose values the access log never
writes (ops/server.py).
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.core import signing
from django.urls import reverse

SALT = "plug2support.satisfaction.rating-link"
LINK_DAYS = 7
LINK_SECONDS = int(timedelta(days=LINK_DAYS).total_seconds())


class LinkRefused(Exception):
    """`code`: `link_expired` or `bad_link`."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def rating_path(request_id: int) -> str:
    token = signing.TimestampSigner(salt=SALT).sign(str(request_id))
    return f"{reverse('rate')}?{urlencode({'t': token})}"


def read_token(token: object) -> int:
    """The RatingRequest id a token names; LinkRefused when expired, altered or not one."""
    if not isinstance(token, str) or not token or len(token) > 200:
        raise LinkRefused("bad_link")
    try:
        value = signing.TimestampSigner(salt=SALT).unsign(token, max_age=LINK_SECONDS)
    except signing.SignatureExpired:
        raise LinkRefused("link_expired") from None
    except signing.BadSignature:
        raise LinkRefused("bad_link") from None
    if not value.isdigit():
        raise LinkRefused("bad_link")
    return int(value)
