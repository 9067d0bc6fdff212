"""Short forms of text for people to read: cut titles and snippets, page numbers, lists of sources."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

from rag.types import Citation


def printable(name: str) -> str:
    """A file name or id safe to print on a terminal: newlines, escape sequences and other control
    characters shown as their escapes (``a\\nb``), so a name cannot forge or hide output lines."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)


def shorten(text: str, width: int) -> str:
    """``text`` if it fits in ``width`` characters, else its first ones and "…"."""
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def snippet(text: str, width: int = 80, tail: bool = False) -> str:
    """``text`` on one line, cut to ``width`` characters at its end (or, with ``tail``, at its start).

    The space between a snippet and a quote next to it survives: a leading (or, with ``tail``, a
    trailing) space of ``text`` is kept.
    """
    flat = " ".join(text.split())
    if len(flat) > width:
        flat = "…" + flat[-width:] if tail else flat[:width] + "…"
    if tail and text[-1:].isspace():
        flat += " "
    elif not tail and text[:1].isspace():
        flat = " " + flat
    return flat


def page_of(page_starts: Sequence[int], offset: int) -> int | None:
    """The 1-based page that holds ``offset``, or None for a document without pages."""
    if not page_starts or offset < page_starts[0]:
        return None
    return bisect.bisect_right(page_starts, offset)


def source_list(citations: Iterable[Citation]) -> str:
    """"doc, date, other-doc": each cited document once, in citation order, with its date if known."""
    return ", ".join(dict.fromkeys(f"{c.doc_id}, {c.date}" if c.date else c.doc_id for c in citations))
