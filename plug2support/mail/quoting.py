"""A reply's own words apart from what it carries along (F5): the quoted history below an
attribution line ("On … wrote:", Outlook's "From: … Sent: …" block, "-----Original
Message-----"), a trailing block of "> " lines, and the signature ("-- ", "Sent from my
iPhone", "Best regards, …") are folded away but kept, so the console can show them on demand.

The languages' patterns are mail-parser-reply's (its attribution lines, Outlook header
blocks and closing phrases for en, de, fr, es, it, nl, plus Portuguese and a few fixes
added below). Its own splitter is not used as is: it strips every line (a pasted log or
traceback would lose its indentation), and it takes the first closing phrase as the start of
the signature, so "Thanks, that fixed it" in the middle of a mail would hide the rest. Here
its compiled patterns find the places, line by line on a probe copy, and the cut is made on
the original lines.
"""

from __future__ import annotations

import re

from mailparser_reply.constants import QUOTED_MATCH_INCLUDE as _Q
from mailparser_reply.parser import EmailMessage

LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt")
# The library's attribution patterns cost the square of a line's length at each line that
# could start one ("On x x x …" lines of 400 characters: 5 s per 100,000 characters). So the
# probe keeps only the lines that could be part of an attribution or header block, cut to
# LINE_MAX, and the search stops at SCAN_MAX_CHARS: a reply's history starts near its top,
# and a text not searched to its end is kept whole, never hidden.
LINE_MAX = 160
SCAN_MAX_CHARS = 60_000
# A signature starts within the last lines of the reply, never far above them.
SIGNATURE_WINDOW_LINES = 40

_OUTLOOK_HEADER = r"((?:(?:^|\n|\n{q})[* ]*(?:{names})\s?:[ *]*(?:\s{{,2}}).*){{2,}}(?:\n.*){{,1}})"
# Patterns the library lacks (Portuguese) or gets too narrow: Spanish Gmail's "El … escribió:"
# (the library wants two spaces before the verb), Dutch Gmail's "Op … schreef Naam <…>:" and
# Apple Mail's "Op … heeft … het volgende geschreven:", French "Le … a écrit :" (the library's
# look-ahead refuses any name with "le " in it, such as "Michelle "), French Outlook without
# the space before the colon.
_EXTRA: dict[str, dict[str, str]] = {
    "pt": {
        "wrote_header": rf"^({_Q}(?:Em|No dia)\s.+?\s?escreveu\s?:)$",
        "from_header": _OUTLOOK_HEADER.format(
            q=_Q, names="De|Enviado|Enviada|Para|Assunto|Data|Cc"),
        "signatures": r"Atenciosamente|Cumprimentos|Com os melhores cumprimentos|Obrigad[oa],"
                      r"|Abraços|Um abraço|Saudações",
        "sent_from": r"Enviado do meu|Enviado a partir do meu|Obter o Outlook para",
    },
    "es": {"wrote_header": rf"^({_Q}El\s.+?\s?escribió\s?:)$"},
    "nl": {"wrote_header": rf"^({_Q}Op\s.+?\s(?:schreef\s.+?|het volgende geschreven)\s?:)$"},
    "fr": {
        "wrote_header": rf"^({_Q}Le\s.+?\sa\s[ée]crit\s?:)$",
        "from_header": _OUTLOOK_HEADER.format(q=_Q, names="De|Envoyé|À|Objet|Date|Cc"),
    },
}


class _Patterns(EmailMessage):
    """The library's message, asked only for its compiled patterns, with the additions."""

    def _get_language_regex(self, language: str, regex_key: str) -> str:
        own = super()._get_language_regex(language, regex_key)
        extra = _EXTRA.get(language, {}).get(regex_key, "")
        return "|".join(pattern for pattern in (own, extra) if pattern)


def _compile() -> tuple[re.Pattern[str], re.Pattern[str]]:
    patterns = _Patterns(text="", languages=list(LANGUAGES), keep_hyphen_lists=True)
    return patterns.HEADER_REGEX, patterns.SIGNATURE_REGEX


_HEADER, _SIGNATURE = _compile()
_FORWARD = re.compile(
    r"^(?:> ?)*(?:-{2,} ?(?:Forwarded message|Weitergeleitete Nachricht|Message transf[ée]r[ée]"
    r"|Mensaje reenviado|Messaggio inoltrato|Doorgestuurd bericht|Mensagem encaminhada) ?-{2,}"
    r"|(?:Begin forwarded message|Anfang der weitergeleiteten Nachricht"
    r"|D[ée]but du message r[ée]exp[ée]di[ée]|Inicio del mensaje reenviado"
    r"|Inizio messaggio inoltrato|Begin doorgestuurd bericht"
    r"|In[íi]cio da mensagem (?:re)?encaminhada) ?:)$",
    re.IGNORECASE | re.MULTILINE)
# A forwarded mail's subject: Fwd:, FW:, WG: (de), TR: (fr), RV: (es), I: (it), Doorst: (nl),
# ENC: (pt). What it carries is the point of the mail, not history to hide.
_FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|wg|tr|rv|i|doorst|enc)\s*:", re.IGNORECASE)
_VERB = re.compile(r"(?:wrote|schrieb\s.*|[ée]crit|escribi[óo]|scritto|schreef\s.*|geschreven"
                   r"|escreveu|message)\s?:$", re.IGNORECASE)
_FIELD = re.compile(r"^[>* ]*[^\W\d_][^\W\d]{0,15}(?: [^\W\d]{1,15})?\s?:")
_SEPARATOR = re.compile(r"^[-_=*~]{8,}$")
_WORD = re.compile(r"\w[\w'.-]*")


def is_forward(subject: str) -> bool:
    return bool(_FORWARD_SUBJECT.match(subject))


def split(text: str, *, forward: bool = False) -> tuple[str, str]:
    """(the new words, the rest) of a plain-text body with "\\n" line ends. A body that is
    nothing but history or a signature comes back whole, so no message reads as empty."""
    lines = text.split("\n")
    # One probe line per original line, as the library normalises them (stripped, no-break
    # spaces as spaces): its patterns expect that, and line numbers map back one to one.
    probe_lines = [line.replace("\xa0", " ").strip()[:LINE_MAX] for line in lines]
    candidates = _candidates(probe_lines)
    probe = "\n".join(candidates)
    marker = _FORWARD.search("\n".join(probe_lines[:len(candidates)]))
    # What a forward carries is the point of the mail, not history: kept whole, unless the
    # forward itself sits in the history of a reply.
    limit = len(probe)
    if marker:
        marker_line = marker.string.count("\n", 0, marker.start())
        limit = sum(len(line) + 1 for line in candidates[:marker_line])
    header = None if forward else _HEADER.search(probe, 0, limit)
    if header:
        start = header.start() + len(header.group()) - len(header.group().lstrip("\n"))
        end = probe.count("\n", 0, start)
    elif forward or marker:
        return _trim(text), ""
    else:
        end = len(lines)
    end = _above_separators(probe_lines, end)
    end = _above_trailing_quote(probe_lines, end)
    end = min(end, _signature_start(probe_lines, end))
    new = _trim("\n".join(lines[:end]))
    if not new:
        return _trim(text), ""
    return new, _trim("\n".join(lines[end:]))


def _candidates(probe_lines: list[str]) -> list[str]:
    """The probe lines within SCAN_MAX_CHARS, with those that can be no part of an
    attribution line, a header block or a forward marker blanked (Gmail wraps a long
    attribution: the line before one ending in "wrote:" stays too)."""
    scanned: list[str] = []
    size = 0
    for line in probe_lines:
        if size > SCAN_MAX_CHARS:
            break
        scanned.append(line)
        size += len(line) + 1
    verbs = [line.endswith(":") and bool(_VERB.search(line)) for line in scanned]
    return [line if verbs[index] or (index + 1 < len(verbs) and verbs[index + 1])
            or _FIELD.match(line) or "-----" in line else ""
            for index, line in enumerate(scanned)]


def _above_separators(probe_lines: list[str], end: int) -> int:
    """Outlook draws a line of underscores above its header block: it goes with the history."""
    while end > 0 and (not probe_lines[end - 1] or _SEPARATOR.match(probe_lines[end - 1])):
        end -= 1
    return end


def _above_trailing_quote(probe_lines: list[str], end: int) -> int:
    start = end
    while start > 0 and (not probe_lines[start - 1] or probe_lines[start - 1].startswith(">")):
        start -= 1
    if any(probe_lines[index].startswith(">") for index in range(start, end)):
        return start
    return end


def _signature_start(probe_lines: list[str], end: int) -> int:
    """The line where the signature begins, or `end`: the first "-- " delimiter, else the
    last closing phrase of the library's patterns that passes `_closing`."""
    first_words = next((index for index in range(end) if probe_lines[index]), end)
    start = max(first_words + 1, end - SIGNATURE_WINDOW_LINES)
    if start >= end:
        return end
    # A leading line end: the library's closing phrases never match at the very start.
    window = "\n" + "\n".join(probe_lines[start:end])
    found = end
    position = 0
    for _ in range(SIGNATURE_WINDOW_LINES):
        match = _SIGNATURE.search(window, position)
        if not match:
            break
        anchor = match.start() + len(match.group()) - len(match.group().lstrip())
        index = start + window.count("\n", 0, anchor) - 1
        line = probe_lines[index].lstrip("> ")
        if line in ("--", "__"):
            return min(found, index)
        if _closing(line):
            found = index
        position = window.find("\n", anchor)
        if position < 0:
            break
    return found


def _closing(line: str) -> bool:
    """A closing line ("Best regards,", "Thanks, Anna", "Sent from my iPhone"), not a
    sentence that happens to start like one ("Thanks, that fixed it")."""
    if len(line) > 60 or "?" in line:
        return False
    if "," in line:
        after = _WORD.findall(line.split(",", 1)[1])
        return len(after) <= 4 and all(word[0].isupper() for word in after)
    return len(_WORD.findall(line)) <= 8


def _trim(text: str) -> str:
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def unflow(text: str, *, delsp: bool) -> str:
    """RFC 3676 format=flowed to plain lines: a line ending in a space continues on the
    next one of the same quote depth; quote marks and space-stuffing are undone and the
    marks written back as "> "."""
    out: list[str] = []
    paragraph: list[str] = []
    depth = -1
    for line in text.split("\n"):
        stripped = line.lstrip(">")
        level = len(line) - len(stripped)
        if stripped.startswith(" "):
            stripped = stripped[1:]
        if paragraph and level != depth:
            out.append(_quoted(depth, "".join(paragraph)))
            paragraph = []
        depth = level
        flowed = stripped.endswith(" ") and stripped != "-- "
        paragraph.append(stripped[:-1] if flowed and delsp else stripped)
        if not flowed:
            out.append(_quoted(depth, "".join(paragraph)))
            paragraph = []
    if paragraph:
        out.append(_quoted(depth, "".join(paragraph)))
    return "\n".join(out)


def _quoted(depth: int, line: str) -> str:
    return ("> " * depth + line) if depth > 0 else line
