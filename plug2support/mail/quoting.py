"""A reply's new text apart from what it quotes (F5): the history below "On … wrote:" (or
Outlook's "From: … Sent: …" block, in the languages the parser knows) and the signature are
folded away, kept to show on demand. mail-parser-reply knows the clients' quote headers in
many languages; the "-- " delimiter (RFC 3676) and the mobile clients' "Sent from my …" lines
are ours."""

from __future__ import annotations

import re

from mailparser_reply import EmailReplyParser

LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pt", "sv", "pl"]
_PARSER = EmailReplyParser(languages=LANGUAGES)
_SIGNATURE = re.compile(r"^-- ?$", re.MULTILINE)
_SENT_FROM = re.compile(r"^\s*(Sent from my |Envoyé de mon |Von meinem |Enviado desde mi |"
                        r"Inviato da |Verzonden met |Get Outlook for )[^\n]*$", re.MULTILINE)
TEXT_MAX = 200_000


def split_reply(text: str) -> tuple[str, str]:
    """(the new text, the folded rest). A message that is only quoted or forwarded text keeps
    all of it as its text: nothing the customer sent is hidden behind a fold."""
    text = text[:TEXT_MAX].strip()
    if not text:
        return "", ""
    try:
        latest = (_PARSER.read(text).latest_reply or "").strip()
    except Exception:  # noqa: BLE001 (an unreadable quote structure: keep it all)
        latest = text
    if not latest or not text.startswith(latest[:40]):
        latest = text
    rest = text[len(latest):].strip() if text.startswith(latest) else ""
    own, folded = _fold_signature(latest)
    if not own:
        return text, ""
    return own, "\n\n".join(part for part in (folded, rest) if part)


def _fold_signature(text: str) -> tuple[str, str]:
    for pattern in (_SIGNATURE, _SENT_FROM):
        match = pattern.search(text)
        if match is not None and match.start() > 0:
            return text[:match.start()].rstrip(), text[match.start():].strip()
    return text, ""
