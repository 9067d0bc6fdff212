"""Turn the reader's spans into one answer with citations, or an honest abstention."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from rag.types import Answer, Citation, Hit, Span

ABSTAIN_MESSAGE = "The documents don't say. These passages came closest:"

# A span counts as support for an answer only if the reader gave it at least this probability;
# lower ones are the reader's long tail, not evidence.
_MIN_SUPPORT_PROBABILITY = 0.05


def decide(question: str, spans: Sequence[Span], hits: Sequence[Hit], min_confidence: float) -> Answer:
    """The best-supported answer among the spans, or an abstention when it is too weak.

    Spans whose text normalises the same (SQuAD normalisation) are one answer; each is a citation.
    Confidence combines the reader's probability with how close the passage is to the question.

    Args:
        spans: The reader's candidates, most probable first.
        hits: The passages the spans came from, with their retrieval scores.
        min_confidence: Abstain below this confidence.
    """
    groups: dict[str, list[Span]] = {}
    for span in spans:
        key = normalize_answer(span.text)
        if key:
            groups.setdefault(key, []).append(span)
    if not groups:
        return _abstain(question, hits, 0.0)
    relevance = {(h.chunk.doc_id, h.chunk.chunk_index): h.dense_score for h in hits}
    scored = [(_confidence(members[0], relevance), key) for key, members in groups.items()]
    # Highest confidence wins; ties go to the more probable reading, then the text, for determinism.
    confidence, key = max(scored, key=lambda item: (item[0], groups[item[1]][0].probability, item[1]))
    if confidence < min_confidence:
        return _abstain(question, hits, confidence)
    members = [s for s in groups[key] if s is groups[key][0] or s.probability >= _MIN_SUPPORT_PROBABILITY]
    citations = tuple(
        Citation(s.chunk.doc_id, s.chunk.chunk_index, s.start, s.end, s.text, s.chunk, s.probability)
        for s in _unique_places(members)
    )
    return Answer(
        question=question,
        text=citations[0].quote,
        citations=citations,
        confidence=confidence,
        passages=tuple(hits),
        message=f"{citations[0].quote} ({citations[0].doc_id})",
    )


def with_threshold(answer: Answer, min_confidence: float) -> Answer:
    """The same answer under another abstention threshold: abstained if its confidence is below it.

    ``decide(..., min_confidence=0.0)`` followed by this gives what ``decide`` would have given at
    ``min_confidence``, so one reading serves a whole threshold sweep.
    """
    if answer.abstained or answer.confidence >= min_confidence:
        return answer
    return _abstain(answer.question, answer.passages, answer.confidence)


def _confidence(best: Span, relevance: dict[tuple[str, int], float]) -> float:
    """Reader probability, discounted when the passage is far from the question.

    A reader sure of a span in an unrelated passage is answering another question; dense cosine
    similarity of all-MiniLM-L6-v2 is near 0 for unrelated text and above ~0.4 for on-topic text.
    """
    cosine = relevance.get((best.chunk.doc_id, best.chunk.chunk_index), 0.0)
    closeness = min(1.0, max(0.0, cosine) / 0.4)
    return float(min(1.0, max(0.0, best.probability * closeness)))


def _unique_places(spans: list[Span]) -> list[Span]:
    """One citation per document span (overlapping passages find the same one twice)."""
    seen: set[tuple[str, int, int]] = set()
    unique = []
    for s in sorted(spans, key=lambda s: (-s.probability, s.chunk.doc_id, s.start)):
        if (s.chunk.doc_id, s.start, s.end) not in seen:
            seen.add((s.chunk.doc_id, s.start, s.end))
            unique.append(s)
    return unique


def _abstain(question: str, hits: Sequence[Hit], confidence: float) -> Answer:
    return Answer(
        question=question, text=None, citations=(), confidence=confidence, passages=tuple(hits), message=ABSTAIN_MESSAGE
    )


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 answer normalisation: lower case, no punctuation, articles or extra spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_PUNCTUATION = frozenset(string.punctuation)
