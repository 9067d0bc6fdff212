"""Split documents into overlapping, sentence-aligned passages that keep their offsets."""

from __future__ import annotations

import re

from rag.types import Chunk, Document

# A sentence ends at . ! or ? (possibly followed by closing quotes or brackets) and whitespace
# before something that can start a sentence, or at a blank line. "U.S. officials" stays whole.
_SENTENCE_END = re.compile(r"""(?<=[.!?])["'”’)\]]*\s+(?=["'“‘(\[]?[A-Z0-9])|\n\s*\n""")
_WHITESPACE = re.compile(r"\s+")
_CLOSERS = frozenset("\"'”’)]")


def chunk(doc: Document, size: int, overlap: int) -> list[Chunk]:
    """Split a document into overlapping passages made of whole sentences.

    A sentence longer than ``size`` is cut at whitespace (or, failing that, anywhere).

    Args:
        size: Most characters in a passage.
        overlap: Most characters that neighbouring passages share; whole sentences only.

    Returns:
        Passages in document order; each one's text equals doc.text[start:end].
    """
    pieces = [p for start, end in sentences(doc.text) for p in _cut_long(doc.text, start, end, size)]
    chunks: list[Chunk] = []
    first = 0
    while first < len(pieces):
        last = first
        while last + 1 < len(pieces) and pieces[last + 1][1] - pieces[first][0] <= size:
            last += 1
        start, end = pieces[first][0], pieces[last][1]
        chunks.append(Chunk(doc.doc_id, len(chunks), start, end, doc.text[start:end]))
        if last + 1 == len(pieces):
            break
        # Start the next passage with the last sentences of this one, as many as fit in the
        # overlap, so an answer that straddles the cut is whole in one of the two passages.
        # Never step back so far that the next sentence no longer fits: that passage would
        # repeat the tail of this one and add nothing.
        next_first = last + 1
        while (
            next_first - 1 > first
            and end - pieces[next_first - 1][0] <= overlap
            and pieces[last + 1][1] - pieces[next_first - 1][0] <= size
        ):
            next_first -= 1
        first = next_first
    return chunks


def sentence_around(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of the sentence(s) of ``text`` that hold ``text[start:end]`` (the span itself at least)."""
    first, last = start, end
    for s, e in sentences(text):
        if s <= start < e or (s < end <= e):
            first, last = min(first, s), max(last, e)
    return first, last


def sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences, without surrounding whitespace."""
    spans = []
    start = 0
    for boundary in [*_SENTENCE_END.finditer(text), None]:
        end = boundary.start() if boundary else len(text)
        # The match starts right after the full stop: a closing quote or bracket after it
        # still belongs to this sentence.
        while end < len(text) and text[end] in _CLOSERS:
            end += 1
        span = _strip(text, start, end)
        if span:
            spans.append(span)
        if boundary:
            start = boundary.end()
    return spans


def _strip(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def _cut_long(text: str, start: int, end: int, size: int) -> list[tuple[int, int]]:
    """Cut a span longer than ``size`` at whitespace into spans of at most ``size``."""
    pieces = []
    while end - start > size:
        cut = start + size
        gaps = [m.start() for m in _WHITESPACE.finditer(text, start + size // 2, cut + 1)]
        if gaps:
            cut = gaps[-1]
        pieces.append(_strip(text, start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    pieces.append(_strip(text, start, end))
    return [p for p in pieces if p]
