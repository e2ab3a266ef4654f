"""A mail's HTML (F5): sanitised with nh3 (Ammonia) for display — no script, style, form or
event handler, links made safe, remote content left to the console's CSP, which loads none —
and read as text for HTML-only mail."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import nh3

HTML_MAX = 1_000_000
_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt",
    "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol", "p",
    "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "u", "ul",
}
_ATTRIBUTES = {
    "a": {"href", "title"}, "img": {"src", "alt", "width", "height", "title"},
    "td": {"colspan", "rowspan", "align"}, "th": {"colspan", "rowspan", "align"},
    "table": {"width"}, "font": {"color"}, "*": {"dir", "lang"},
}
_BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
           "pre", "table", "ul", "ol", "hr", "dt", "dd"}


def sanitise_html(source: str) -> str:
    return nh3.clean(source[:HTML_MAX], tags=_TAGS, attributes=_ATTRIBUTES,
                     url_schemes={"http", "https", "mailto", "cid"},
                     link_rel="noopener noreferrer nofollow", strip_comments=True)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip += 1
        elif tag in _BLOCKS:
            self.out.append("\n")
        if tag == "blockquote":
            self.out.append("> ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(source: str) -> str:
    reader = _Text()
    try:
        reader.feed(source[:HTML_MAX])
        reader.close()
    except Exception:  # noqa: BLE001 (broken markup: its tags stripped as text)
        return html.unescape(re.sub(r"<[^>]*>", " ", source[:HTML_MAX]))
    lines = [line.strip() for line in "".join(reader.out).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
