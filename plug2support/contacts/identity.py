"""Identity verification (B6): a site tells the widget who its logged-in user is by passing
the user id with the hex HMAC-SHA256 of that id, keyed by the widget's secret. Only the site's
server knows the secret, so only it can make the hash; a visitor cannot claim another user.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re

from plug2support.widgets.models import Widget

from .models import USER_ID_MAX

HASH_RE = re.compile(r"[0-9a-f]{64}")


class IdentityError(Exception):
    """A refused identification. `code` is stable (for the widget API); `message` is for
    the site's developer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def expected_hash(secret: str, user_id: str) -> str:
    """What the site's server computes: hex HMAC-SHA256 of the UTF-8 user id."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def check_user_id(user_id: object) -> str:
    if user_id is not None and not isinstance(user_id, str):
        # Most often a JS number (`user.id`): the hash is made of a string, so say which.
        raise IdentityError("missing_user_id", "user_id must be a string, the one your server "
                                               "made the hash of: for a number, pass "
                                               "String(user.id).")
    if not isinstance(user_id, str) or not user_id.strip():
        raise IdentityError("missing_user_id", "Give the logged-in user's id (user_id).")
    if len(user_id) > USER_ID_MAX or not user_id.isprintable():
        raise IdentityError("missing_user_id", f"The user id must be 1 to {USER_ID_MAX} "
                                               "printable characters.")
    return user_id


def check_hash_format(user_hash: object) -> str:
    if not isinstance(user_hash, str) or not HASH_RE.fullmatch(user_hash):
        raise IdentityError("malformed_hash", "user_hash must be the HMAC-SHA256 of the user "
                                              "id made with the widget's secret, as 64 "
                                              "lower-case hex characters.")
    return user_hash


def verify(widget: Widget, user_id: object, user_hash: object) -> bool:
    """True when `user_hash` is the HMAC of `user_id` with this widget's secret. Malformed
    input raises IdentityError (missing_user_id, malformed_hash) rather than answering."""
    uid = check_user_id(user_id)
    given = check_hash_format(user_hash)
    if not widget.secret:
        return False  # a widget without a secret cannot vouch for anyone
    return hmac.compare_digest(expected_hash(widget.secret, uid), given)


def check_identity(widget: Widget, user_id: object, user_hash: object) -> str:
    """The verified user id, or IdentityError (missing_user_id, malformed_hash, wrong_hash)."""
    if not verify(widget, user_id, user_hash):
        raise IdentityError("wrong_hash", "user_hash does not match this user id: make it on "
                                          "your server with this widget's secret.")
    assert isinstance(user_id, str)
    return user_id


def attributes_message(user_id: str, attributes: dict[str, object]) -> str:
    """What the site signs to vouch for a user's attributes (M9): the user id, a line feed,
    and the attributes as canonical JSON (keys sorted, no spaces, UTF-8 not escaped: Python's
    json.dumps(a, sort_keys=True, separators=(",", ":"), ensure_ascii=False)). The user id
    leads, so one user's signed attributes cannot be replayed for another."""
    return user_id + "\n" + json.dumps(attributes, sort_keys=True, separators=(",", ":"),
                                       ensure_ascii=False)


def expected_attributes_hash(secret: str, user_id: str, attributes: dict[str, object]) -> str:
    return hmac.new(secret.encode(), attributes_message(user_id, attributes).encode(),
                    hashlib.sha256).hexdigest()


def attributes_verified(widget: Widget, user_id: str, attributes: dict[str, object],
                        attributes_hash: object) -> bool:
    """True when `attributes_hash` is the site's HMAC of these attributes for this (already
    verified) user; anything else (missing, malformed, wrong) leaves them a claim."""
    if not widget.secret or not isinstance(attributes_hash, str) \
            or not HASH_RE.fullmatch(attributes_hash):
        return False
    return hmac.compare_digest(expected_attributes_hash(widget.secret, user_id, attributes),
                               attributes_hash)
