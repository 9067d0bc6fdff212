"""Which sentence of a passage a source quotes: the one around its span, or the one that says most
of what was asked; never a boilerplate line (copyright, byline) nor a document's dateline."""

from __future__ import annotations

import re

from rag.chunker import sentence_around, sentences

# Lines that are about the article, not in it: quoting them as evidence reads as noise.
_BOILERPLATE = re.compile(
    r"^\s*(?:©|\(c\)\s|copyright\b|all rights reserved|\(?(?:additional\s+)?(?:reporting|writing|editing)\s+by\b"
    r"|\(?(?:compiled|produced)\s+by\b|read more\b|related:|advertisement\s*$"
    r"|(?:www\.)?[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|news|info|co\.\w\w)\s*$)",  # a site's name alone
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")
# Words that say nothing about which sentence answers a question.
_STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for", "from", "had", "has", "have", "he",
    "her", "his", "how", "in", "is", "it", "its", "of", "on", "or", "she", "that", "the", "their", "them", "they",
    "this", "to", "was", "were", "what", "when", "where", "which", "who", "whom", "whose", "why", "will", "with"]
)


def is_boilerplate(line: str) -> bool:
    """A copyright notice, byline or similar line about the article rather than in it."""
    return bool(_BOILERPLATE.match(line))


def supporting_sentence(text: str, start: int, end: int, skip: int = 0) -> tuple[int, int]:
    """The sentence of ``text`` around ``text[start:end]``, without boilerplate lines at its edges
    (a sentence split can run on into "© Thomson Reuters 2025." on the next line), nor the first
    ``skip`` characters (a document's "date 2026-01-30" line, which the passage text still holds)."""
    first, last = sentence_around(text, start, end)
    lines = _line_spans(text, first, last)
    while len(lines) > 1 and lines[0][1] <= start and is_boilerplate(text[lines[0][0]:lines[0][1]]):
        lines.pop(0)
    while len(lines) > 1 and lines[-1][0] >= end and is_boilerplate(text[lines[-1][0]:lines[-1][1]]):
        lines.pop()
    first = min(lines[0][0], start)
    if first < skip <= start:
        first = skip + len(text[skip:start]) - len(text[skip:start].lstrip())
    return first, max(lines[-1][1], end)


def best_matching_sentence(text: str, question: str, skip: int = 0) -> tuple[int, int] | None:
    """The sentence of ``text`` sharing the most content words with the question (None if none does);
    boilerplate lines never count, and a sentence starts after the first ``skip`` characters (see
    ``supporting_sentence``)."""
    wanted = content_words(question)
    best, best_overlap = None, 0
    for s, e in sentences(text):
        if s < skip:
            s = min(e, skip + len(text[skip:e]) - len(text[skip:e].lstrip()))
        sentence = text[s:e]
        if not sentence:
            continue
        if any(is_boilerplate(line) for line in sentence.splitlines()[:1]):
            continue
        overlap = len(wanted & content_words(sentence))
        if overlap > best_overlap:
            best, best_overlap = (s, e), overlap
    return best


def _line_spans(text: str, first: int, last: int) -> list[tuple[int, int]]:
    spans, position = [], first
    for line in text[first:last].split("\n"):
        if line.strip():
            spans.append((position, position + len(line)))
        position += len(line) + 1
    return spans or [(first, last)]


def content_words(text: str) -> set[str]:
    """The words that carry meaning, cut to 5 letters: a crude stem ("resigned", "resignation")."""
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 1}
