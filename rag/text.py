"""Short forms of text for people to read: cut titles and snippets, page numbers, lists of sources."""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Sequence

from rag.types import Citation


def printable(name: str) -> str:
    """A file name or id safe to print on a terminal: newlines, escape sequences and other control
    characters shown as their escapes (``a\\nb``), so a name cannot forge or hide output lines."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)


# What a terminal acts on rather than shows: C0 and C1 controls (ESC starts a sequence that can move the
# cursor, erase lines or hide text; CSI is \x9b on its own), DEL, and the bidirectional overrides that
# reorder what is shown ("Trojan Source"). Document text is anyone's: none of it may reach a terminal raw.
_BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_TERMINAL_CONTROLS = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_CONTROLS}]")
_LINE_CONTROLS = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI_CONTROLS}]")
# json.dumps escapes only C0 itself; a lone surrogate (a path that was not UTF-8) would not encode.
_JSON_RAW_CONTROLS = re.compile(f"[\x7f-\x9f{_BIDI_CONTROLS}\ud800-\udfff]")


def inert(text: str, keep_lines: bool = False) -> str:
    """``text`` safe to print on a terminal: every control character shown as its escape (``\\x1b``).

    With ``keep_lines``, newlines and tabs stay (a whole document shown as it reads); a carriage
    return is escaped either way, since it returns to the start of the line to overwrite it.
    """
    pattern = _LINE_CONTROLS if keep_lines else _TERMINAL_CONTROLS
    return pattern.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


def inert_json(data: object) -> str:
    """``data`` as one line of JSON (UTF-8 kept) that is also inert on a terminal: DEL, the C1
    controls, bidi overrides and lone surrogates (a file name that is not UTF-8), which ``json.dumps``
    leaves raw, become ``\\uXXXX`` escapes that mean the same to a JSON reader."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    return _JSON_RAW_CONTROLS.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


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
