"""A mail's HTML, made safe to show and read as plain text (F5).

Both go through nh3 (Ammonia, in Rust) first: the standard library's HTMLParser is quadratic
on some malformed input (100,000 unclosed "<a " take minutes), while Ammonia's output is
well-formed, so the text walk over it is linear. Ammonia itself is quadratic only in the
nesting depth (100,000 nested <div> take two minutes, 2,000 take 30 ms), which `too_deep`
measures beforehand with a linear scan of the tags.
"""

from __future__ import annotations

import functools
import html
import re
from html.parser import HTMLParser

import nh3

DEPTH_MAX = 1000
# Elements that close themselves or are closed by their next sibling: they add no depth.
_FLAT = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr", "p", "li", "dt", "dd", "td", "th", "tr", "option", "thead", "tbody",
    "tfoot", "colgroup", "rt", "rp"})
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)")

_SHOW_ATTRIBUTES = {
    **{tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()},
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
}
_DROPPED_CONTENT = {"script", "style", "title", "head"}
_INLINE_IMAGE = re.compile(r"data:image/(?:png|gif|jpeg|webp);base64,", re.IGNORECASE)


@functools.lru_cache(maxsize=4)
def too_deep(markup: str) -> bool:
    depth = 0
    for match in _TAG.finditer(markup):
        if match.group(2).lower() in _FLAT:
            continue
        depth = max(depth - 1, 0) if match.group(1) else depth + 1
        if depth > DEPTH_MAX:
            return True
    return False


def _show_filter(tag: str, attribute: str, value: str) -> str | None:
    """Links only to the web and to mail; images from the web, the mail's own parts (cid:,
    mapped by the caller) or inline data; nothing else that could run or navigate."""
    if tag == "a" and attribute == "href":
        return value if value.lower().startswith(("http:", "https:", "mailto:")) else None
    if tag == "img" and attribute == "src":
        lowered = value.lower()
        if lowered.startswith(("http:", "https:", "cid:")) or _INLINE_IMAGE.match(value):
            return value
        return None
    return value


def sanitise(markup: str) -> str:
    """HTML to show: no script, style, event handlers or forms; links open a new tab without
    the opener; `cid:` image sources kept as they are."""
    return nh3.clean(
        markup, tags=set(nh3.ALLOWED_TAGS), attributes=_SHOW_ATTRIBUTES,
        clean_content_tags=_DROPPED_CONTENT, attribute_filter=_show_filter,
        url_schemes={"http", "https", "mailto", "cid", "data"}, url_relative="deny",
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}})


# What the text walk needs to see; every other tag is dropped and its text kept.
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul",
                        "ol", "table", "hr", "dl"})
_BLOCK = frozenset({"div", "li", "tr", "dt", "dd", "section", "article", "header", "footer",
                    "address", "center", "caption", "figure", "figcaption", "details",
                    "summary"})
_CELL = frozenset({"td", "th"})
_TEXT_TAGS = _PARAGRAPH | _BLOCK | _CELL | {"br", "a"}
_SPACE = re.compile(r"[ \t\r\n\f]+")
_ANY_TAG = re.compile(r"<[^<>]*>?")


def to_text(markup: str) -> str:
    """Plain text of an HTML body: block elements on their own lines, paragraphs apart,
    <blockquote> as "> " lines (so the history is recognised as such), list items with a
    dash or number, a link's address after its text when the text does not show it."""
    clean = nh3.clean(markup, tags=set(_TEXT_TAGS),
                      attributes={"a": {"href"}, "ol": {"start"}, "p": {"class"}},
                      clean_content_tags=_DROPPED_CONTENT, link_rel=None,
                      url_schemes={"http", "https", "mailto"})
    walker = _TextWalk()
    walker.feed(clean)
    walker.close()
    return walker.text()


def tags_stripped(markup: str) -> str:
    """The last resort for HTML too deep to parse: its text without any structure. Linear:
    a tag ends at the next "<" at the latest, scripts and styles are cut out with `find`."""
    lowered = markup.lower()
    kept: list[str] = []
    position = 0
    while position < len(markup):
        start = min((found for found in (lowered.find("<script", position),
                                         lowered.find("<style", position)) if found >= 0),
                    default=len(markup))
        kept.append(markup[position:start])
        if start == len(markup):
            break
        name = "</script" if lowered.startswith("<script", start) else "</style"
        end = lowered.find(name, start)
        close = lowered.find(">", end) if end >= 0 else -1
        position = len(markup) if close < 0 else close + 1
    text = _ANY_TAG.sub(" ", "".join(kept))
    return "\n".join(_SPACE.sub(" ", line).strip() for line in html.unescape(text).splitlines())


class _TextWalk(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []  # (quote depth, text)
        self.line = ""
        self.line_depth = 0
        self.has_text = False
        self.blank_before = False
        self.quote = 0
        self.pre = 0
        self.outlook_paragraph = False
        self.lists: list[list[int]] = []  # [ordered, next number] per open list
        self.links: list[list[str]] = []  # [href, its text so far] per open link

    def text(self) -> str:
        self._end_line()
        rendered = [("> " * depth + line).rstrip() for depth, line in self.lines]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(rendered)).strip("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "br":
            self._end_line(force=True)
        elif tag == "p" and "msonormal" in (values.get("class") or "").lower():
            self._end_line()  # Outlook's paragraphs have no margins: one per line
            self.outlook_paragraph = True
        elif tag in _PARAGRAPH:
            self._paragraph()
        elif tag in _BLOCK:
            self._end_line()
        elif tag in _CELL and self.has_text:
            self._write("  ")
        if tag == "blockquote":
            self.quote += 1
        elif tag == "pre":
            self.pre += 1
        elif tag in ("ul", "ol"):
            start = values.get("start") or "1"
            self.lists.append([tag == "ol", int(start) if start.isdigit() else 1])
        elif tag == "li":
            indent = "  " * max(len(self.lists) - 1, 0)
            if self.lists and self.lists[-1][0]:
                self._write(f"{indent}{self.lists[-1][1]}. ")
                self.lists[-1][1] += 1
            else:
                self._write(f"{indent}- ")
        elif tag == "a":
            self.links.append([values.get("href") or "", ""])

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.links:
            href, shown = self.links.pop()
            shown = shown.strip()
            if href.lower().startswith(("http:", "https:")) and shown and href not in shown:
                self._write(f" <{href}>")
        if tag == "blockquote":
            self._paragraph()
            self.quote = max(self.quote - 1, 0)
        elif tag == "pre":
            self.pre = max(self.pre - 1, 0)
            self._paragraph()
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self._paragraph()
        elif tag == "p" and self.outlook_paragraph:
            self.outlook_paragraph = False
            self._end_line()
        elif tag in _PARAGRAPH:
            self._paragraph()
        elif tag in _BLOCK:
            self._end_line()

    def handle_data(self, data: str) -> None:
        if self.pre:
            first, *rest = data.split("\n")
            self._write(first)
            for line in rest:
                self._end_line(force=True)
                self._write(line)
            return
        data = _SPACE.sub(" ", data)
        if not self.has_text:
            data = data.lstrip(" ")
        if data:
            self._write(data)

    def _write(self, data: str) -> None:
        if not self.has_text:
            if self.blank_before and self.lines and self.lines[-1][1]:
                self.lines.append((min(self.lines[-1][0], self.quote), ""))
            self.blank_before = False
            self.line_depth = self.quote
            self.has_text = True
        self.line += data.replace("\xa0", " ")
        for link in self.links[-1:]:
            link[1] = (link[1] + data)[:500]

    def _end_line(self, force: bool = False) -> None:
        if self.has_text or force:
            self.lines.append((self.line_depth if self.has_text else self.quote,
                               self.line.rstrip(" ")))
        self.line = ""
        self.has_text = False

    def _paragraph(self) -> None:
        self._end_line()
        self.blank_before = True
