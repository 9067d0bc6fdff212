"""The numbered sources under one chat answer: one per distinct place, with a readable name and the
sentence that supports it.

A source is what a `[n]` marker points at, and one source is one supporting sentence. The reader
may cite the same place twice (the span found in two overlapping passages, or "script>alert" inside
"<script>alert"), or two spans of one sentence ("SEOUL – … agreed Monday in Seoul"): those become one
source, its spans all marked, so the numbers, the count and the cards agree. Alternatives of a
disagreement get sources of their own, numbered after the chosen answer's; an abstention's sources
are the passages that came closest. Which sentence a source quotes is ui/quotes.py's choice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Literal

from rag.chunker import sentences
from rag.extract import dateline_end
from rag.text import page_of
from rag.types import Answer, Chunk, Citation, DocumentInfo

from .quotes import best_matching_sentence, content_words, supporting_sentence

SourceKind = Literal["answer", "alternative", "closest"]

_NAME_CHARS = 80
_HASH_LIKE = re.compile(r"^(?:\d+_)?[0-9a-f]{8,}$")


@dataclass(frozen=True, slots=True)
class Source:
    """One numbered place under an answer.

    Attributes:
        spans: The cited spans in the document, in reading order: one, or several in one sentence
            (for a closest passage: the whole passage).
        quote: The supporting sentence in pieces, the spans at odd places: (before, span, after) or
            (before, span, between, span, after); (sentence, "", "") for a closest passage.
        context: Another sentence of the same passage that matches the question better, if any.
        answers: The answers this source supports: the chosen one, or one or more alternatives found in
            the same sentence; none for a closest passage.
    """

    number: int
    kind: SourceKind
    doc_id: str
    name: str
    date: str | None
    page: int | None
    spans: tuple[tuple[int, int], ...]
    passage: Chunk
    quote: tuple[str, ...]
    context: str | None
    answers: tuple[str, ...]

    @property
    def answer(self) -> str | None:
        """The (first) answer this source supports."""
        return self.answers[0] if self.answers else None

    @property
    def start(self) -> int:
        return self.spans[0][0]

    @property
    def end(self) -> int:
        return self.spans[0][1]

    @property
    def spans_in_passage(self) -> list[tuple[int, int]]:
        """The spans relative to the passage; none for a closest passage (nothing to mark)."""
        if self.kind == "closest":
            return []
        return [(s - self.passage.start, e - self.passage.start) for s, e in self.spans]

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
        return _closest_sources(answer, info)
    chosen = [(answer.text or "", c) for c in distinct_citations(answer.citations)]
    # Alternatives found in one sentence share its card: it quotes them all.
    alternatives = [(a.text, c) for a in answer.alternatives for c in distinct_citations(a.citations)]
    order = {a.text: i for i, a in enumerate(answer.alternatives)}
    wanted = content_words(answer.question)
    sources: list[Source] = []
    groups: list[tuple[SourceKind, list[tuple[str, Citation]]]] = [("answer", chosen), ("alternative", alternatives)]
    for kind, cited in groups:
        made = [_cited(kind, same, answer.question) for same in _by_sentence(cited)]
        # Each answer's sources in its order; of one answer's, the sentence that says most of what was
        # asked first: it is the one the answer quotes.
        made.sort(key=lambda s: (order.get(s.answers[0], 0), -len(wanted & content_words("".join(s.quote)))))
        sources += [replace(s, number=len(sources) + n) for n, s in enumerate(made, start=1)]
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


def _by_sentence(cited: list[tuple[str, Citation]]) -> list[list[tuple[str, Citation]]]:
    """(answer, citation) pairs grouped by the sentence that supports them (in the order of each
    sentence's first citation): two spans of one sentence are one source."""
    groups: dict[tuple[str, int, int], list[tuple[str, Citation]]] = {}  # (document, sentence start, end) -> pairs
    for text, citation in cited:
        key = next((k for k in groups if k[0] == citation.doc_id and k[1] <= citation.start and citation.end <= k[2]),
                   None)
        if key is None:
            passage = citation.passage
            first, last = supporting_sentence(passage.text, citation.start - passage.start,
                                              citation.end - passage.start, _skip(passage))
            key = (citation.doc_id, passage.start + first, passage.start + last)
        groups.setdefault(key, []).append((text, citation))
    return list(groups.values())


def _cited(kind: SourceKind, cited: list[tuple[str, Citation]], question: str) -> Source:
    """One source for the citations of one sentence (the first citation's passage holds it)."""
    citations = [c for _, c in cited]
    best = citations[0]
    passage = best.passage
    spans: list[tuple[int, int]] = []
    for start, end in sorted((c.start - passage.start, c.end - passage.start) for c in citations):
        if spans and start < spans[-1][1]:  # two alternatives' spans that overlap: marked as one
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    first, last = spans[0][0], spans[-1][1]
    for start, end in spans:
        s, e = supporting_sentence(passage.text, start, end, _skip(passage))
        first, last = min(first, s), max(last, e)
    quote, position = [], first
    for start, end in spans:
        quote += [passage.text[position:start], passage.text[start:end]]
        position = end
    quote.append(passage.text[position:last])
    context = None
    wanted = content_words(question)
    match = best_matching_sentence(passage.text, question, _skip(passage))
    # Another sentence of the passage, shown only when it says clearly more of what was asked.
    if match and not (match[0] < last and first < match[1]):
        said = len(wanted & content_words(passage.text[match[0]:match[1]]))
        if said >= 2 and said > len(wanted & content_words(passage.text[first:last])):
            context = passage.text[match[0]:match[1]]
    return Source(0, kind, best.doc_id, readable_name(best.doc_id, best.title), best.date, best.page,
                  tuple((passage.start + s, passage.start + e) for s, e in spans), passage, tuple(quote), context,
                  tuple(dict.fromkeys(text for text, _ in cited)))


def _closest_sources(answer: Answer, info: Callable[[str], DocumentInfo] | None) -> list[Source]:
    """Up to three of the passages that came closest, each quoting a sentence no other one quotes
    (overlapping passages often share their best sentence)."""
    sources: list[Source] = []
    quoted: set[tuple[str, str]] = set()
    for hit in answer.passages:
        source = _closest(len(sources) + 1, hit.chunk, answer.question, info(hit.chunk.doc_id) if info else DocumentInfo())
        if (source.doc_id, source.quote[0]) not in quoted:
            quoted.add((source.doc_id, source.quote[0]))
            sources.append(source)
        if len(sources) == 3:
            break
    return sources


def _closest(number: int, passage: Chunk, question: str, info: DocumentInfo) -> Source:
    skip = _skip(passage)
    match = best_matching_sentence(passage.text, question, skip)
    if match is None:  # no sentence shares a word with the question: the passage's first
        first_sentence = next(iter(sentences(passage.text[skip:])), None)
        match = (first_sentence[0] + skip, first_sentence[1] + skip) if first_sentence else None
    first, last = match if match else (0, len(passage.text))
    return Source(number, "closest", passage.doc_id, readable_name(passage.doc_id, info.title), info.date,
                  page_of(info.page_starts, passage.start), ((passage.start, passage.end),), passage,
                  (passage.text[first:last], "", ""), None, ())


def _skip(passage: Chunk) -> int:
    """How much of the passage a quote leaves out at its start: a document's dateline."""
    return dateline_end(passage.text) if passage.chunk_index == 0 else 0


def _cut_at_word(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    cut = text[:width].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"
