"""lib/secretbox.py: secrets the product reads back (a mailbox's password) under a key of
SECRET_KEY's, readable after a key rotation only through SECRET_KEY_FALLBACKS."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plug2support.lib import secretbox
from plug2support.lib.secretbox import SecretBoxError


@given(st.text())
def test_any_text_comes_back_as_it_went_in(text: str) -> None:
    token = secretbox.encrypt(text)
    assert token.isascii()
    assert secretbox.decrypt(token) == text


def test_the_token_shows_nothing_of_the_secret_and_differs_each_time() -> None:
    secret = "app-password-1234"
    first, second = secretbox.encrypt(secret), secretbox.encrypt(secret)
    assert first != second  # a random IV each time
    assert secret not in first
    assert secretbox.decrypt(first) == secretbox.decrypt(second) == secret


def test_an_altered_token_is_refused() -> None:
    token = secretbox.encrypt("secret")
    altered = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    with pytest.raises(SecretBoxError):
        secretbox.decrypt(altered)
    with pytest.raises(SecretBoxError):
        secretbox.decrypt("not a token")
    with pytest.raises(SecretBoxError):
        secretbox.decrypt("é")


def test_a_token_of_another_key_is_refused_unless_that_key_is_a_fallback(
        settings: Any) -> None:
    settings.SECRET_KEY = "the-old-key-" + "x" * 40
    token = secretbox.encrypt("secret")
    settings.SECRET_KEY = "the-new-key-" + "y" * 40
    with pytest.raises(SecretBoxError):
        secretbox.decrypt(token)
    settings.SECRET_KEY_FALLBACKS = ["the-old-key-" + "x" * 40]
    assert secretbox.decrypt(token) == "secret"
    rotated = secretbox.rotate(token)
    settings.SECRET_KEY_FALLBACKS = []
    assert secretbox.decrypt(rotated) == "secret"
    with pytest.raises(SecretBoxError):
        secretbox.decrypt(token)
