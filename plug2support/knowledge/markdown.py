"""Articles' Markdown to safe HTML: CommonMark with raw HTML turned off (it shows as text),
then sanitised by nh3 (Ammonia) all the same — no script, no event handlers, no style; links
only to http(s) and mailto, opened in a new tab without the opener."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_PARSER = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_TAGS = {"p", "br", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code", "pre",
         "blockquote", "ul", "ol", "li", "a", "hr", "img", "table", "thead", "tbody", "tr",
         "th", "td"}
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"},
               "th": {"align"}, "td": {"align"}, "ol": {"start"}}


def render_markdown(text: str) -> str:
    html = _PARSER.render(text)
    return nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES,
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer",
                     set_tag_attribute_values={"a": {"target": "_blank"}})
