"""Secrets the product must read back (a connected mailbox's password, F4), encrypted at rest.

Fernet (AES-128-CBC with HMAC-SHA256, a timestamp, URL-safe base64) from `cryptography`,
under a key derived from settings.SECRET_KEY with HKDF-SHA256. The derivation's `info`
names the purpose, so this key is never the one Django signs sessions or links with, and a
leaked token tells nothing about SECRET_KEY.

Key rotation, and its limits:
- Tokens are made under SECRET_KEY only; they are read under SECRET_KEY or any key of
  settings.SECRET_KEY_FALLBACKS (Django's own list for rotating the key, so one change of
  settings rotates sessions, signed links and these). `rotate()` re-encrypts a token under
  the current key; run it over the stored secrets before a fallback is dropped.
- A token made under a key that is in neither setting any more cannot be read, ever: the
  mailbox's password must be entered again (decrypt raises SecretBoxError, which callers
  show as such). There is no escrow and no way around that, by design.
- Changing SECRET_KEY without listing the old one in SECRET_KEY_FALLBACKS therefore loses
  every stored password at once.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

# Fixed, public: HKDF's salt need not be secret; SECRET_KEY is the secret. Changing either
# makes every stored token unreadable.
_SALT = b"plug2support.lib.secretbox"
_INFO = b"secretbox v1: stored credentials"


class SecretBoxError(ValueError):
    """The token is not one of ours, was altered, or was made under a key we no longer have."""


@lru_cache(maxsize=16)
def _fernet(secret_key: str) -> Fernet:
    # Cached per key: HKDF is cheap, but a poll of many mailboxes decrypts one per mailbox.
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT,
                   info=_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def _box() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(key) for key in keys])


def encrypt(text: str) -> str:
    """`text` encrypted under the current key, as ASCII (fits a TextField)."""
    return _fernet(settings.SECRET_KEY).encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _box().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError) as error:
        raise SecretBoxError("the stored secret cannot be read (made under another key?)") \
            from error


def rotate(token: str) -> str:
    """The same secret, re-encrypted under the current SECRET_KEY."""
    try:
        return _box().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError) as error:
        raise SecretBoxError("the stored secret cannot be read (made under another key?)") \
            from error
