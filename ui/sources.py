"""The numbered sources under one chat answer: one per distinct place, with a readable name and the
sentence that supports it.

A source is what a `[n]` marker points at. The reader may cite the same place twice (the span found
in two overlapping passages, or "script>alert" inside "<script>alert"): those become one source, so
the numbers, the count and the cards agree. Alternatives of a disagreement get sources of their own,
numbered after the chosen answer's; an abstention's sources are the passages that came closest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Literal

from rag.chunker import sentence_around, sentences
from rag.text import page_of
from rag.types import Answer, Chunk, Citation, DocumentInfo

SourceKind = Literal["answer", "alternative", "closest"]

_NAME_CHARS = 80
# Lines that are about the article, not in it: quoting them as evidence reads as noise.
_BOILERPLATE = re.compile(
    r"^\s*(?:©|\(c\)\s|copyright\b|all rights reserved|\(?(?:additional\s+)?(?:reporting|writing|editing)\s+by\b"
    r"|\(?(?:compiled|produced)\s+by\b|read more\b|related:|advertisement\s*$"
    r"|(?:www\.)?[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|news|info|co\.\w\w)\s*$)",  # a site's name alone
    re.IGNORECASE,
)
_HASH_LIKE = re.compile(r"^(?:\d+_)?[0-9a-f]{8,}$")
_WORD = re.compile(r"\w+")
# Words that say nothing about which sentence answers a question.
_STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for", "from", "had", "has", "have", "he",
    "her", "his", "how", "in", "is", "it", "its", "of", "on", "or", "she", "that", "the", "their", "them", "they",
    "this", "to", "was", "were", "what", "when", "where", "which", "who", "whom", "whose", "why", "will", "with"]
)


@dataclass(frozen=True, slots=True)
class Source:
    """One numbered place under an answer.

    Attributes:
        start, end: The cited span in the document (for a closest passage: the whole passage).
        quote: The supporting sentence as (before, span, after); the span is empty for a closest passage.
        context: Another sentence of the same passage that matches the question better, if any.
        answer: The answer this source supports (the chosen one or an alternative's); None for a closest passage.
    """

    number: int
    kind: SourceKind
    doc_id: str
    name: str
    date: str | None
    page: int | None
    start: int
    end: int
    passage: Chunk
    quote: tuple[str, str, str]
    context: str | None
    answer: str | None

    @property
    def span_in_passage(self) -> tuple[int, int] | None:
        """The span relative to the passage, or None for a closest passage (nothing to mark)."""
        if self.kind == "closest":
            return None
        return self.start - self.passage.start, self.end - self.passage.start

    @property
    def details(self) -> str:
        """"2025-09-08 · p. 3" as far as the document states them."""
        return " · ".join(v for v in (self.date, f"p. {self.page}" if self.page else None) if v)


def answer_sources(answer: Answer, info: Callable[[str], DocumentInfo] | None = None) -> list[Source]:
    """The sources of one answer, numbered from 1: the answer's places, its alternatives' places,
    or (when rag abstained) the passages that came closest.

    Args:
        info: Title, date and pages of a document by id (``Pipeline.document_info``), for the closest
            passages, which carry none themselves.
    """
    if answer.abstained:
        return [_closest(n, hit.chunk, answer.question, info(hit.chunk.doc_id) if info else DocumentInfo())
                for n, hit in enumerate(answer.passages[:3], start=1)]
    sources: list[Source] = []
    groups: list[tuple[SourceKind, str | None, tuple[Citation, ...]]] = [("answer", answer.text, answer.citations)]
    groups += [("alternative", a.text, a.citations) for a in answer.alternatives]
    for kind, text, citations in groups:
        cited = [_cited(0, kind, c, text, answer.question) for c in distinct_citations(citations)]
        # The sentence that says most of what was asked comes first: it is the one the answer quotes.
        wanted = _content_words(answer.question)
        cited.sort(key=lambda s: -len(wanted & _content_words("".join(s.quote))))
        sources += [replace(s, number=len(sources) + n) for n, s in enumerate(cited, start=1)]
    return sources


def distinct_citations(citations: tuple[Citation, ...] | list[Citation]) -> list[Citation]:
    """The citations with each place once: a citation whose span overlaps a better one's (earlier in
    the list) in the same document is dropped."""
    kept: list[Citation] = []
    for citation in citations:
        if not any(c.doc_id == citation.doc_id and c.start < citation.end and citation.start < c.end for c in kept):
            kept.append(citation)
    return kept


def readable_name(doc_id: str, title: str | None) -> str:
    """The document's title, cut at a word near 80 characters; without one, its file name made readable."""
    if title and title.strip():
        return _cut_at_word(" ".join(title.split()), _NAME_CHARS)
    path = PurePosixPath(doc_id)
    words = [w for w in re.split(r"[_\-\s]+", path.stem) if w and not _HASH_LIKE.match(w)]
    return " ".join(words) or doc_id


def is_boilerplate(line: str) -> bool:
    """A copyright notice, byline or similar line about the article rather than in it."""
    return bool(_BOILERPLATE.match(line))


def supporting_sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence of ``text`` around ``text[start:end]``, without boilerplate lines at its edges
    (a sentence split can run on into "© Thomson Reuters 2025." on the next line)."""
    first, last = sentence_around(text, start, end)
    lines = _line_spans(text, first, last)
    while len(lines) > 1 and lines[0][1] <= start and is_boilerplate(text[lines[0][0]:lines[0][1]]):
        lines.pop(0)
    while len(lines) > 1 and lines[-1][0] >= end and is_boilerplate(text[lines[-1][0]:lines[-1][1]]):
        lines.pop()
    return min(lines[0][0], start), max(lines[-1][1], end)


def best_matching_sentence(text: str, question: str) -> tuple[int, int] | None:
    """The sentence of ``text`` sharing the most content words with the question (None if none does);
    boilerplate lines never count."""
    wanted = _content_words(question)
    best, best_overlap = None, 0
    for s, e in sentences(text):
        sentence = text[s:e]
        if any(is_boilerplate(line) for line in sentence.splitlines()[:1]):
            continue
        overlap = len(wanted & _content_words(sentence))
        if overlap > best_overlap:
            best, best_overlap = (s, e), overlap
    return best


def _cited(number: int, kind: SourceKind, citation: Citation, text: str | None, question: str) -> Source:
    passage = citation.passage
    start, end = citation.start - passage.start, citation.end - passage.start
    first, last = supporting_sentence(passage.text, start, end)
    quote = (passage.text[first:start], passage.text[start:end], passage.text[end:last])
    context = None
    match = best_matching_sentence(passage.text, question)
    if match and not (match[0] < last and first < match[1]):  # a different sentence of the same passage
        context = passage.text[match[0]:match[1]]
    return Source(number, kind, citation.doc_id, readable_name(citation.doc_id, citation.title), citation.date,
                  citation.page, citation.start, citation.end, passage, quote, context, text)


def _closest(number: int, passage: Chunk, question: str, info: DocumentInfo) -> Source:
    match = best_matching_sentence(passage.text, question) or next(iter(sentences(passage.text)), None)
    first, last = match if match else (0, len(passage.text))
    return Source(number, "closest", passage.doc_id, readable_name(passage.doc_id, info.title), info.date,
                  page_of(info.page_starts, passage.start), passage.start, passage.end, passage,
                  (passage.text[first:last], "", ""), None, None)


def _line_spans(text: str, first: int, last: int) -> list[tuple[int, int]]:
    spans, position = [], first
    for line in text[first:last].split("\n"):
        if line.strip():
            spans.append((position, position + len(line)))
        position += len(line) + 1
    return spans or [(first, last)]


def _content_words(text: str) -> set[str]:
    """The words that carry meaning, cut to 5 letters: a crude stem ("resigned", "resignation")."""
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 1}


def _cut_at_word(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    cut = text[:width].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"
