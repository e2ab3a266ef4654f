"""What an attachment is, decided by its bytes and never by its name (C4).

The upload is read once, in chunks, into a spooled temporary file: never more than the limit
plus one byte, so a huge upload costs no more than an allowed one. Its type comes from its
content (`filetype` for the magic numbers, then stricter checks of our own for the types we
accept); the name only has to agree with it. Markup (HTML, SVG, XML) is refused in every
form, because served from our origin it would run as a page of ours.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import IO, Protocol

import filetype
from django.conf import settings

CHUNK_BYTES = 64 * 1024
HEAD_BYTES = 8192  # what the magic-number matchers look at
NAME_MAX = 200
# Kept in memory up to this size, then in a temporary file.
SPOOL_MAX_MEMORY = 1024 * 1024


class AttachmentError(Exception):
    """A refused upload or attach. `code` is stable; `message` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Kind:
    content_type: str
    label: str
    extensions: tuple[str, ...]  # the first one is added to a name that has none
    is_image: bool = False


PNG = Kind("image/png", "a PNG image", ("png",), is_image=True)
JPEG = Kind("image/jpeg", "a JPEG image", ("jpg", "jpeg", "jpe", "jfif"), is_image=True)
GIF = Kind("image/gif", "a GIF image", ("gif",), is_image=True)
WEBP = Kind("image/webp", "a WebP image", ("webp",), is_image=True)
PDF = Kind("application/pdf", "a PDF document", ("pdf",))
TEXT = Kind("text/plain", "plain text", ("txt", "text", "log", "md"))
CSV = Kind("text/csv", "CSV text", ("csv",))
DOCX = Kind("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "a Word document", ("docx",))
XLSX = Kind("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "an Excel workbook", ("xlsx",))

ALLOWED_KINDS = (PNG, JPEG, GIF, WEBP, PDF, TEXT, CSV, DOCX, XLSX)
ALLOWED_EXTENSIONS = frozenset(ext for kind in ALLOWED_KINDS for ext in kind.extensions)
ALLOWED_DESCRIPTION = ("images (PNG, JPEG, GIF, WebP), PDF, plain text (.txt, .csv), "
                       "Word (.docx) and Excel (.xlsx) files")

# A browser that sniffs (or a person who opens the download) would treat these as a page.
_MARKUP_START = re.compile(rb"^\s*<")
_MARKUP_ANYWHERE = re.compile(
    rb"<\s*(!doctype|html|head|body|script|iframe|svg|\?xml|object|embed)\b", re.IGNORECASE)
# Bytes that never occur in text a person wrote (NUL and the other C0 controls but tab,
# line feed, form feed, carriage return and escape).
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")

# Content types `filetype` reports, named for the error message.
_FORBIDDEN_LABELS = {
    "application/x-executable": "a program (ELF executable)",
    "application/x-msdownload": "a Windows program",
    "application/x-mach-binary": "a macOS program",
    "application/x-shockwave-flash": "a Flash file",
    "application/zip": "a ZIP archive",
    "application/x-rar-compressed": "a RAR archive",
    "application/x-7z-compressed": "a 7-Zip archive",
    "application/gzip": "a gzip archive",
    "application/x-tar": "a tar archive",
}


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


# A picture shown in the console or the widget (an avatar, a logo): at most this many pixels
# a side, so a small file cannot make every viewer's browser decode a huge bitmap.
MAX_IMAGE_SIDE = 4096


def image_size_error(checked: CheckedFile) -> str | None:
    """Why this checked image is refused for its pixels, or None."""
    size = checked.pixels()
    if size is None:
        return "This image could not be read: save it again as a PNG, JPEG, GIF or WebP image."
    if max(size) > MAX_IMAGE_SIDE:
        return (f"This image is {size[0]} × {size[1]} pixels: at most {MAX_IMAGE_SIDE} pixels "
                "a side.")
    return None


@dataclass
class CheckedFile:
    """An upload that passed every check; `content` is positioned at its start."""

    name: str  # sanitized, with an extension that agrees with the content
    kind: Kind
    size: int
    sha256: str
    content: IO[bytes]

    @property
    def content_type(self) -> str:
        return self.kind.content_type

    @property
    def is_image(self) -> bool:
        return self.kind.is_image

    def pixels(self) -> tuple[int, int] | None:
        """An image's width and height from its header (Pillow reads no pixel for it), or
        None when Pillow cannot read the header (the file is then no image we accept)."""
        from PIL import Image, UnidentifiedImageError

        self.content.seek(0)
        try:
            with Image.open(self.content) as image:
                size: tuple[int, int] = image.size
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            size = None  # type: ignore[assignment]
        self.content.seek(0)
        return size

    def close(self) -> None:
        self.content.close()


def limit_in_mb(limit: int) -> str:
    mb = limit / (1024 * 1024)
    return f"{mb:.0f} MB" if mb >= 1 and mb == int(mb) else f"{mb:.2g} MB"


def too_large_error(limit: int | None = None) -> AttachmentError:
    limit = settings.ATTACHMENT_MAX_BYTES if limit is None else limit
    return AttachmentError("too_large", f"A file is at most {limit_in_mb(limit)}.")


def sanitize_name(raw: object) -> str:
    """A name fit to show and to send back in Content-Disposition: no path, no control
    characters, none of the characters file systems refuse, at most NAME_MAX characters
    (the extension kept)."""
    name = unicodedata.normalize("NFC", str(raw or ""))
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r'[<>:"|?*]', "_", name)
    name = re.sub(r"\s+", " ", name).strip().lstrip(".").strip()
    if len(name) > NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[:NAME_MAX - len(ext) - 1].rstrip() + "." + ext
        else:
            name = name[:NAME_MAX]
    return name


def extension_of(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def _spool(stream: Readable, limit: int) -> tuple[IO[bytes], int, str]:
    """Copy at most limit+1 bytes; too_large as soon as there are more than `limit`."""
    spooled: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_MEMORY)
    digest = hashlib.sha256()
    size = 0
    try:
        while True:
            chunk = stream.read(min(CHUNK_BYTES, limit + 1 - size))
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise too_large_error(limit)
            digest.update(chunk)
            spooled.write(chunk)
    except BaseException:
        spooled.close()
        raise
    spooled.seek(0)
    return spooled, size, digest.hexdigest()


def _markup_label(head: bytes) -> str:
    lowered = head.lower()
    if b"<svg" in lowered:
        return "SVG"
    if b"<html" in lowered or b"<!doctype html" in lowered or b"<script" in lowered:
        return "HTML"
    if b"<?xml" in lowered:
        return "XML"
    return "HTML or other markup"


def _is_utf8_text(content: IO[bytes]) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    content.seek(0)
    try:
        while chunk := content.read(CHUNK_BYTES):
            if _BINARY_BYTES.search(chunk):
                return False
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        content.seek(0)
    return True


def _office_kind(content: IO[bytes]) -> Kind | None:
    """A .docx or .xlsx, judged by the ZIP's table of contents (read, never extracted).
    Macro-enabled documents carry a vbaProject part: those are refused."""
    content.seek(0)
    try:
        with zipfile.ZipFile(content) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    finally:
        content.seek(0)
    if "[Content_Types].xml" not in names or any(n.endswith("vbaProject.bin") for n in names):
        return None
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        return XLSX
    return None


def _has_full_signature(kind: Kind, head: bytes) -> bool:
    """`filetype` matches a few leading bytes; an image shown inline must also have the
    rest of its format's signature."""
    if kind is PNG:
        return head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    if kind is JPEG:
        return head[:3] == b"\xff\xd8\xff"
    if kind is GIF:
        return head[:6] in (b"GIF87a", b"GIF89a")
    if kind is WEBP:
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP" and head[12:15] == b"VP8"
    if kind is PDF:
        return head.startswith(b"%PDF-")
    return True


_BY_DETECTED_TYPE = {
    "image/png": PNG, "image/apng": PNG, "image/jpeg": JPEG, "image/gif": GIF,
    "image/webp": WEBP, "application/pdf": PDF,
}


def detect(content: IO[bytes], name: str) -> tuple[Kind | None, str]:
    """(the allowed kind, or None) and a label of what the content is, for messages."""
    content.seek(0)
    head = content.read(HEAD_BYTES)
    content.seek(0)
    if head.startswith(b"PK\x03\x04"):
        # `filetype` guesses Office documents from the first entries' names only; the
        # archive's table of contents says for sure.
        office = _office_kind(content)
        return (office, office.label) if office else (None, "a ZIP archive")
    guessed = filetype.guess(head)
    if guessed is not None:
        kind = _BY_DETECTED_TYPE.get(guessed.mime)
        if kind is None:
            return None, _FORBIDDEN_LABELS.get(guessed.mime, f"a file of type {guessed.mime}")
        if not _has_full_signature(kind, head):
            return None, f"a damaged or disguised file (not {kind.label})"
        return kind, kind.label
    body = head.removeprefix(codecs.BOM_UTF8)
    if _MARKUP_START.match(body) or _MARKUP_ANYWHERE.search(body[:1024]):
        return None, _markup_label(body)
    if _is_utf8_text(content):
        return (CSV if extension_of(name) == "csv" else TEXT), "plain text"
    return None, "a file of a type we do not recognise"


def check_upload(stream: Readable, raw_name: object, *,
                 limit: int | None = None) -> CheckedFile:
    """Read and judge an upload; AttachmentError (empty, too_large, forbidden_type,
    type_mismatch) when refused. The caller closes the returned file."""
    limit = settings.ATTACHMENT_MAX_BYTES if limit is None else limit
    name = sanitize_name(raw_name)
    content, size, sha256 = _spool(stream, limit)
    try:
        if size == 0:
            raise AttachmentError("empty", "The file is empty.")
        kind, label = detect(content, name)
        ext = extension_of(name)
        if kind is None:
            if ext in ALLOWED_EXTENSIONS:
                raise AttachmentError(
                    "type_mismatch", f"The name says .{ext} but the content is {label}: "
                    "refused.")
            raise AttachmentError(
                "forbidden_type", f"This file is {label}, which is not accepted. "
                f"Allowed: {ALLOWED_DESCRIPTION}.")
        if ext and ext not in kind.extensions:
            if ext in ALLOWED_EXTENSIONS:
                raise AttachmentError(
                    "type_mismatch", f"The name says .{ext} but the content is {kind.label}: "
                    "refused.")
            raise AttachmentError(
                "forbidden_type", f"Files ending in .{ext} are not accepted. "
                f"Allowed: {ALLOWED_DESCRIPTION}.")
        if not ext:
            ext = kind.extensions[0]
            name = f"{(name or 'file')[:NAME_MAX - len(ext) - 1]}.{ext}"
    except BaseException:
        content.close()
        raise
    return CheckedFile(name=name, kind=kind, size=size, sha256=sha256, content=content)
