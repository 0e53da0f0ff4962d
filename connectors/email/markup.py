"""HTML mail as readable text, and as HTML that is safe to show an agent.

Safe means: no scripts, no event handlers, no styles, nothing the browser fetches by itself (a remote image tells
the sender that, when and where the mail was read). Images of the mail itself (`cid:` references to its inline
parts) are kept; links stay links.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

__all__ = ["html_to_text", "sanitize_html"]

ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "caption",
        "code",
        "dd",
        "del",
        "div",
        "dl",
        "dt",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "ins",
        "li",
        "ol",
        "p",
        "pre",
        "q",
        "s",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "u",
        "ul",
    }
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
}
_DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "head", "title", "template", "noscript", "iframe", "object"}
)
_BLOCKS = frozenset(
    {
        "p",
        "div",
        "br",
        "tr",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "table",
        "ul",
        "ol",
        "hr",
        "dl",
        "dt",
        "dd",
        "section",
        "article",
        "header",
        "footer",
    }
)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def sanitize_html(html: str) -> str:
    """An allow-list of tags and attributes; images only from the mail itself (`cid:`), links only http(s)/mailto."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(_DROPPED_WITH_CONTENT - {"head"}),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_only_own_images,
        url_schemes={"http", "https", "mailto", "cid"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def _only_own_images(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not value.strip().lower().startswith("cid:"):
        return None
    return value


def html_to_text(html: str) -> str:
    """The text a reader sees: block elements on lines of their own, list items marked, links with their address."""
    converter = _TextConverter()
    converter.feed(html)
    converter.close()
    return converter.text()


class _TextConverter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._pieces: list[str] = []
        self._skipping = 0
        self._preformatted = 0
        self._link: str | None = None
        self._link_text_start = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED_WITH_CONTENT:
            self._skipping += 1
        elif tag in _BLOCKS:
            self._pieces.append("\n")
            if tag == "li":
                self._pieces.append("- ")
            elif tag == "pre":
                self._preformatted += 1
        elif tag in ("td", "th"):
            self._pieces.append("\t")
        elif tag == "a":
            self._link = dict(attrs).get("href")
            self._link_text_start = len(self._pieces)
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self._pieces.append(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED_WITH_CONTENT:
            self._skipping = max(self._skipping - 1, 0)
        elif tag in _BLOCKS and tag != "li":
            self._pieces.append("\n")
            if tag == "pre":
                self._preformatted = max(self._preformatted - 1, 0)
        elif tag == "a" and self._link is not None:
            text = "".join(self._pieces[self._link_text_start :]).strip()
            address = self._link.removeprefix("mailto:")
            if (
                address.startswith(("http://", "https://")) or self._link.startswith("mailto:")
            ) and address not in ("", text):
                self._pieces.append(f" <{address}>")
            self._link = None

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("img", "br"):
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        self._pieces.append(data if self._preformatted else _SPACES.sub(" ", data.replace("\n", " ")))

    def text(self) -> str:
        lines = (line.strip() for line in "".join(self._pieces).split("\n"))
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
