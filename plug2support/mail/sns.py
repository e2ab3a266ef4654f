"""Amazon SNS message signatures (the transport of SES's inbound notifications), checked
against a certificate kept on this server.

Anymail does not check them. AWS's own recipe fetches the certificate from the message's
`SigningCertURL`; we never do: a URL in the request is the sender's choice, and a fetch per
post would put the mail path behind the internet. The operator downloads SNS's signing
certificate once (the `SigningCertURL` of the region's messages, checked to be on
`sns.<region>.amazonaws.com`) into the file MAIL_SES_SNS_CERTIFICATE names; the file may
hold several (the current one and its successor while AWS rotates it).

The string signed is AWS's canonical form ("Verifying the signatures of Amazon SNS
messages"): the listed keys in byte order, each as `name\\nvalue\\n`, Subject only when
the message has one. SignatureVersion 1 is RSA PKCS#1 v1.5 over SHA-1, 2 over SHA-256.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                     "Type")
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}


class BadSignature(ValueError):
    pass


def string_to_sign(message: dict[str, Any]) -> bytes:
    kind = message.get("Type")
    keys: tuple[str, ...]
    if kind == "Notification":
        keys = NOTIFICATION_KEYS
    elif kind in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        keys = CONFIRMATION_KEYS
    else:
        raise BadSignature(f"unknown SNS message type {str(kind)[:40]!r}")
    lines: list[str] = []
    for key in keys:
        if key not in message:
            if key == "Subject":
                continue
            raise BadSignature(f"the message has no {key}")
        value = message[key]
        if not isinstance(value, str):
            raise BadSignature(f"{key} is not a string")
        lines += [key, value]
    return ("\n".join(lines) + "\n").encode("utf-8")


_loaded: dict[tuple[str, int, int], list[rsa.RSAPublicKey]] = {}
_lock = threading.Lock()


def trusted_keys(path: str) -> list[rsa.RSAPublicKey]:
    """The RSA keys of the certificates in `path`, read again when the file changes (a new
    certificate is put in place without a restart)."""
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    with _lock:
        if key not in _loaded:
            with open(path, "rb") as file:
                certificates = x509.load_pem_x509_certificates(file.read())
            keys = [c.public_key() for c in certificates]
            _loaded.clear()
            _loaded[key] = [k for k in keys if isinstance(k, rsa.RSAPublicKey)]
        return _loaded[key]


def verify(message: dict[str, Any], certificate_path: str) -> None:
    """Raise BadSignature unless `message` carries SNS's signature by a trusted key."""
    algorithm = _HASHES.get(str(message.get("SignatureVersion", "")))
    if algorithm is None:
        raise BadSignature("SignatureVersion is neither 1 nor 2")
    signature = message.get("Signature")
    if not isinstance(signature, str):
        raise BadSignature("the message is not signed")
    try:
        signed = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature("the signature is not base64") from None
    data = string_to_sign(message)
    try:
        keys = trusted_keys(certificate_path)
    except (OSError, ValueError) as error:
        raise BadSignature(f"the trusted certificates cannot be read ({error})") from None
    if not keys:
        raise BadSignature("no RSA certificate in the trusted file")
    for public_key in keys:
        try:
            public_key.verify(signed, data, padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            continue
        return
    raise BadSignature("the signature does not match a trusted certificate")
