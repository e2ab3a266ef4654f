"""The server's VAPID key pair (RFC 8292), made at first use and kept in the database."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from django.db import IntegrityError, transaction
from py_vapid import Vapid02

from .models import VapidKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def vapid_key() -> VapidKey:
    """The key pair; the first caller makes it (two at once: the first row wins)."""
    row = VapidKey.objects.order_by("pk").first()
    if row is not None:
        return row
    vapid = Vapid02()
    vapid.generate_keys()
    public = vapid.public_key.public_bytes(serialization.Encoding.X962,
                                           serialization.PublicFormat.UncompressedPoint)
    try:
        with transaction.atomic():
            VapidKey.objects.create(private_pem=vapid.private_pem().decode(),
                                    public_key=b64url(public))
    except IntegrityError:  # pragma: no cover - nothing unique today; kept for clarity
        pass
    return VapidKey.objects.order_by("pk").first()  # type: ignore[return-value]


def signer() -> Vapid02:
    return Vapid02.from_pem(vapid_key().private_pem.encode())
