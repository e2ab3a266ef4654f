"""Saving and removing a browser's push subscription (M11). The body is checked before
anything is stored: the endpoint an https URL (http only for PUSH_HTTP_HOSTS, the tests'
own push service), p256dh a point on P-256, auth 16 bytes."""

from __future__ import annotations

import binascii
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import transaction

from plug2support.accounts.models import Membership

from .keys import b64url_decode
from .models import PushSubscription

ENDPOINT_MAX = 1000


class SubscriptionError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _key(keys: dict[str, Any], name: str) -> bytes:
    value = keys.get(name)
    if not isinstance(value, str) or not value or len(value) > 100:
        raise SubscriptionError("invalid_keys", f"keys.{name} must be a base64url string.")
    try:
        return b64url_decode(value)
    except (binascii.Error, ValueError):
        raise SubscriptionError("invalid_keys", f"keys.{name} is not base64url.") from None


def check_endpoint(endpoint: object) -> str:
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > ENDPOINT_MAX:
        raise SubscriptionError("invalid_endpoint", "endpoint must be a URL.")
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
    except ValueError:
        raise SubscriptionError("invalid_endpoint", "endpoint must be a URL.") from None
    if not host or any(ord(c) < 33 for c in endpoint):
        raise SubscriptionError("invalid_endpoint", "endpoint must be a URL.")
    if parts.scheme == "https" or (parts.scheme == "http" and host in settings.PUSH_HTTP_HOSTS):
        return endpoint
    raise SubscriptionError("invalid_endpoint", "endpoint must be an https URL.")


def check_subscription(body: object) -> tuple[str, str, str]:
    """(endpoint, p256dh, auth) of a PushSubscription's JSON, or SubscriptionError."""
    if not isinstance(body, dict):
        raise SubscriptionError("invalid_subscription",
                                "Send the subscription as a JSON object.")
    endpoint = check_endpoint(body.get("endpoint"))
    keys = body.get("keys")
    if not isinstance(keys, dict):
        raise SubscriptionError("invalid_keys", "keys must hold p256dh and auth.")
    p256dh, auth = _key(keys, "p256dh"), _key(keys, "auth")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    except ValueError:
        raise SubscriptionError("invalid_keys", "keys.p256dh is not a P-256 public key.") from None
    if len(auth) != 16:
        raise SubscriptionError("invalid_keys", "keys.auth must be 16 bytes.")
    return endpoint, keys["p256dh"], keys["auth"]


def do_subscribe(membership: Membership, body: object) -> PushSubscription:
    endpoint, p256dh, auth = check_subscription(body)
    with transaction.atomic():
        row, _ = PushSubscription.objects.update_or_create(
            company_id=membership.company_id, user_id=membership.user_id, endpoint=endpoint,
            defaults={"p256dh": p256dh, "auth": auth})
    return row


def do_unsubscribe(membership: Membership, body: object) -> int:
    """Remove this member's subscription with that endpoint; how many went (0 or 1)."""
    endpoint = body.get("endpoint") if isinstance(body, dict) else None
    if not isinstance(endpoint, str) or len(endpoint) > ENDPOINT_MAX:
        raise SubscriptionError("invalid_endpoint", "endpoint must be a URL.")
    deleted, _ = PushSubscription.objects.filter(
        company_id=membership.company_id, user_id=membership.user_id,
        endpoint=endpoint).delete()
    return deleted
