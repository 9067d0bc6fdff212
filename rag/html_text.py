"""A web page as plain text: its bytes decoded by the charset it declares, and its markup flattened into
paragraphs and lines as a browser would lay them out (scripts, styles and comments dropped)."""

from __future__ import annotations

import codecs
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bs4 import BeautifulSoup

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
    from bs4 import Comment

    for tag in soup.find_all(_HTML_DROPPED):
        tag.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()  # else the <pre> rewrite below would turn a comment in it into text
    for pre in soup.find_all("pre"):  # inside <pre> a newline is a line break, elsewhere a space
        for node in pre.find_all(string=True):
            node.replace_with(node.replace("\n", _BREAK))
    for br in soup.find_all("br"):
        br.replace_with(_BREAK)
    for cell in soup.find_all(["td", "th"]):  # cells of a row stay apart: "Oslo 3" not "Oslo3"
        cell.insert_after(" ")
    for tag in soup.find_all(_HTML_BLOCKS):
        mark = _BREAK if tag.name in ("li", "tr") else _PARAGRAPH
        tag.insert_before(mark)
        tag.insert_after(mark)
    flat = re.sub(r"\s+", " ", soup.get_text())
    text = _BREAK_RUN.sub(lambda m: "\n\n" if _PARAGRAPH in m[0] else "\n", flat)
    return text.strip()
