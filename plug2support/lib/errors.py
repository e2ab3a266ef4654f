"""A refused request, shared by every domain that answers over the sockets."""

from __future__ import annotations


class Refused(Exception):
    """`code` is stable (docs/protocol.md); `message` is for people; `details` go along in
    the error frame. The sockets answer any of these (or a subclass) with an `error` frame,
    so a domain below conversations (presence) refuses without importing them."""

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
