"""A form body (multipart/form-data or urlencoded) split into its fields as bytes.

Django's own parser keeps a field's value only as text (a raw message posted in a field,
as Mailgun's `body-mime` and SendGrid's `email`, loses its 8-bit bytes in the decoding) and
caps the fields at DATA_UPLOAD_MAX_MEMORY_SIZE, which a 25 MB message passes. The caller
bounds the body (the ASGI guard, ops/body_limits.py); this only splits it, at C speed
(bytes.split), and never recurses into a part whatever its Content-Type says.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from urllib.parse import unquote_to_bytes


class BadForm(ValueError):
    pass


@dataclass(frozen=True)
class Field:
    name: str
    value: bytes
    filename: str | None = None  # set for a file
    content_type: str = ""


def _headers(block: bytes) -> Message:
    return BytesHeaderParser(policy=compat32).parsebytes(block + b"\r\n\r\n")


def _param(headers: Message, name: str) -> str | None:
    value = headers.get_param(name, header="content-disposition")
    if value is None:
        return None
    # RFC 2231 parameters come as (charset, language, text).
    return str(value[2] if isinstance(value, tuple) else value)


# As Django's DATA_UPLOAD_MAX_NUMBER_FIELDS: a body of tiny fields costs far more memory
# than its size.
MAX_FIELDS = 1000


def multipart(body: bytes, boundary: str, *, max_fields: int = MAX_FIELDS) -> list[Field]:
    """The fields of a multipart/form-data body (RFC 7578): each part's CRLF before the
    next delimiter belongs to the delimiter, the preamble and epilogue are dropped."""
    if not boundary or len(boundary) > 200:
        raise BadForm("no usable boundary")
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    # The preamble, the parts, then the closing delimiter's rest ("--" and the epilogue).
    chunks = (b"\r\n" + body).split(b"\r\n" + delimiter, max_fields + 2)
    if len(chunks) < 2:
        raise BadForm("no part")
    if len(chunks) > max_fields + 2:
        raise BadForm(f"more than {max_fields} parts")
    fields: list[Field] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            return fields  # the closing delimiter: what follows is the epilogue
        # The rest of the delimiter line (transport padding), then the part's headers.
        _padding, newline, part = chunk.partition(b"\r\n")
        if not newline:
            raise BadForm("a delimiter line does not end")
        if part.startswith(b"\r\n"):
            block, value = b"", part[2:]
        else:
            block, found, value = part.partition(b"\r\n\r\n")
            if not found:
                raise BadForm("a part's headers do not end")
        headers = _headers(block)
        name = _param(headers, "name")
        if name is None:
            continue  # not a form field (RFC 7578 §4.2 makes the name required)
        fields.append(Field(name, value, _param(headers, "filename"),
                            str(headers.get("content-type", ""))))
    raise BadForm("the closing delimiter is missing")


def urlencoded(body: bytes, *, max_fields: int = MAX_FIELDS) -> list[Field]:
    """The fields of an application/x-www-form-urlencoded body, values as bytes (the
    standard library's parse_qsl decodes them)."""
    pairs = [pair for pair in body.split(b"&") if pair]
    if len(pairs) > max_fields:
        raise BadForm(f"more than {max_fields} fields")
    fields = []
    for pair in pairs:
        name, _, value = pair.partition(b"=")
        fields.append(Field(unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8", "replace"),
                            unquote_to_bytes(value.replace(b"+", b" "))))
    return fields
