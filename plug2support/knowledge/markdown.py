"""Markdown to safe HTML: CommonMark with raw HTML turned off (it shows as text), then
sanitised by nh3 (Ammonia) all the same — no script, no event handlers, no style; links
only to http(s) and mailto, opened in a new tab without the opener.

Two flavours: the help articles' (headings, tables, images) and the chat's, for the team's
messages and notes (issue 18, contract 4): a chat bubble has no room for a heading or a
table, an image from any address would let a message track who reads it, and a line break
typed with Shift+Enter is a line break. Bare URLs become links, as the plain text showed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token

_PARSER = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_TAGS = {"p", "br", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code", "pre",
         "blockquote", "ul", "ol", "li", "a", "hr", "img", "table", "thead", "tbody", "tr",
         "th", "td"}
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"},
               "th": {"align"}, "td": {"align"}, "ol": {"start"}}
_SCHEMES = {"http", "https", "mailto"}

# Headings (ATX and setext: "text" over "---" is not a heading in a chat) and raw HTML stay
# text; an image is a link to it (shown, it would tell its server who reads); strikethrough
# is the one extension.
_CHAT_PARSER = (MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True})
                .enable(["linkify", "strikethrough"])
                .disable(["heading", "lheading", "html_block", "html_inline"]))


def _image_as_link(renderer: Any, tokens: Sequence[Token], idx: int, options: Any,
                   env: Any) -> str:
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = renderer.renderInlineAsText(token.children or [], options, env) or src
    return f'<a href="{escapeHtml(src)}">{escapeHtml(alt)}</a>'


_CHAT_PARSER.add_render_rule("image", _image_as_link)
_CHAT_TAGS = {"p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li",
              "a", "hr"}
_CHAT_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}


def render_markdown(text: str) -> str:
    html = _PARSER.render(text)
    return nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES,
                     url_schemes=_SCHEMES, link_rel="noopener noreferrer",
                     set_tag_attribute_values={"a": {"target": "_blank"}})


def render_chat_markdown(text: str) -> str:
    """A message's or note's Markdown as the HTML the console, the widget and the e-mail
    show. Links are nofollow too: a customer's site must not lend them its standing."""
    html = _CHAT_PARSER.render(text)
    return nh3.clean(html, tags=_CHAT_TAGS, attributes=_CHAT_ATTRIBUTES,
                     url_schemes=_SCHEMES, link_rel="noopener noreferrer nofollow",
                     set_tag_attribute_values={"a": {"target": "_blank"}}).strip()
