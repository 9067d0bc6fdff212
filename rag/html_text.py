"""A web page as plain text: its bytes decoded by the charset it declares, and its markup flattened into
paragraphs and lines as a browser would lay them out (scripts, styles and comments dropped)."""

from __future__ import annotations

import codecs
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bs4 import BeautifulSoup, PageElement

_HTML_DROPPED = ["script", "style", "noscript", "template", "head"]
_HTML_BLOCKS = ["p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "section", "article",
                "header", "footer", "blockquote", "pre", "table"]
_HTML_DATE_METAS = [("name", "date"), ("property", "article:published_time"), ("name", "dcterms.date"),
                    ("itemprop", "datePublished")]
# Private-use characters mark line breaks while BeautifulSoup flattens the page; a run of breaks
# and spaces becomes one newline, so nesting depth and source indentation never add blank lines.
_BREAK, _PARAGRAPH = "\ue000", "\ue001"
_BREAK_RUN = re.compile(f"[ {_BREAK}{_PARAGRAPH}]*[{_BREAK}{_PARAGRAPH}][ {_BREAK}{_PARAGRAPH}]*")


# Codecs Python has that no web page is written in: a page declaring one is read as UTF-8.
_NOT_PAGE_CHARSETS = {"idna", "punycode", "undefined", "raw-unicode-escape", "unicode-escape", "rot-13"}


def decode_html(data: bytes) -> str:
    """The page's text: by its byte-order mark, else its declared charset, else UTF-8 (bad bytes replaced)."""
    from bs4.dammit import EncodingDetector

    data, bom_encoding = EncodingDetector.strip_byte_order_mark(data)
    encoding = bom_encoding or EncodingDetector.find_declared_encoding(data, is_html=True) or "utf-8"
    try:
        if codecs.lookup(encoding).name in _NOT_PAGE_CHARSETS:
            encoding = "utf-8"
    except LookupError:
        encoding = "utf-8"
    try:
        return data.decode(encoding, errors="replace")
    # A charset name Python does not know (LookupError), or one that is no text encoding for a
    # page ("idna", "punycode", "undefined": UnicodeError whatever the errors= handler).
    except (LookupError, UnicodeError):
        return data.decode("utf-8", errors="replace")


def html_date_candidates(soup: BeautifulSoup) -> list[str]:
    metas = (soup.find("meta", attrs={key: value}) for key, value in _HTML_DATE_METAS)
    times = soup.find_all("time", attrs={"datetime": True})
    return [str(tag.get("content") or "") for tag in metas if tag] + [str(t["datetime"]) for t in times]


def html_text(soup: BeautifulSoup) -> str:
    """The page's text, laid out in paragraphs and lines.

    One walk over the tree, with its own stack: work is linear in the page's size whatever its shape
    (editing the tree in place, as this once did, cost a search of the parent's children per block:
    quadratic on a flat page of paragraphs), and nesting depth cannot exhaust Python's recursion.
    The tree is left as it was.
    """
    from bs4 import CData, NavigableString, Tag

    pieces: list[str] = []
    # Each entry: a node to visit, or (mark, leaves_pre): what to emit once a tag's children are done.
    stack: list[PageElement | tuple[str, bool]] = [soup]
    in_pre = 0  # how many <pre> the walk is inside
    while stack:
        node = stack.pop()
        if isinstance(node, tuple):
            pieces.append(node[0])
            in_pre -= node[1]
        elif isinstance(node, Tag):
            if node.name in _HTML_DROPPED:
                continue
            if node.name == "br":
                pieces.append(_BREAK)
                continue
            after = ""
            if node.name in _HTML_BLOCKS:
                mark = _BREAK if node.name in ("li", "tr") else _PARAGRAPH
                pieces.append(mark)
                after = mark
            elif node.name in ("td", "th"):  # cells of a row stay apart: "Oslo 3" not "Oslo3"
                after = " "
            is_pre = node.name == "pre"
            in_pre += is_pre
            stack.append((after, is_pre))
            stack.extend(reversed(node.contents))
        elif type(node) in (NavigableString, CData):  # not comments, doctypes or declarations
            # Inside <pre> a newline is a line break, elsewhere a space.
            pieces.append(str(node).replace("\n", _BREAK) if in_pre else str(node))
    flat = re.sub(r"\s+", " ", "".join(pieces))
    text = _BREAK_RUN.sub(lambda m: "\n\n" if _PARAGRAPH in m[0] else "\n", flat)
    return text.strip()
