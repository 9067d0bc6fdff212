"""Turn the reader's spans into one answer with citations, or an honest abstention."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence

from rag.calibration import Scorer
from rag.normalize import normalize_answer
from rag.scoring import rank_answers
from rag.text import page_of, source_list
from rag.types import Alternative, Answer, Citation, DocumentInfo, Hit, Span

ABSTAIN_MESSAGE = "The documents don't say. These passages came closest:"

# A span counts as support for an answer only if the reader gave it at least this probability;
# lower ones are the reader's long tail, not evidence.
_MIN_SUPPORT_PROBABILITY = 0.05
# Another answer counts as a disagreement only if it is nearly as confident as the chosen one.
_DISAGREEMENT_RATIO = 0.55
_MAX_ALTERNATIVES = 2
_ASKS_WHAT_IS_CURRENT = re.compile(
    r"\b(current|currently|now|today|latest|most recent|at present|presently|these days|still)\b", re.IGNORECASE
)


def decide(
    question: str,
    spans: Sequence[Span],
    hits: Sequence[Hit],
    min_confidence: float,
    documents: Mapping[str, DocumentInfo] | None = None,
    scorer: Scorer | None = None,
) -> Answer:
    """The best-supported answer among the spans, or an abstention when it is too weak.

    Spans whose text normalises the same (SQuAD normalisation) are one answer; each is a citation.
    Answers are ranked by the scorer's span scoring, and the confidence is its calibrated estimate
    that the answer is right (rag/scoring.py). Strong answers from other documents that say
    something else are kept as alternatives (the sources disagree); when the question asks what is
    current, the version from the most recently dated document is chosen, and the answer says why.

    Args:
        spans: The reader's candidates.
        hits: The passages the spans came from, with their retrieval scores, best first.
        min_confidence: Abstain below this confidence.
        documents: Titles, dates and pages of the documents, for citations.
        scorer: How spans are compared and confidence computed (default: window softmax, uncalibrated).
    """
    return with_threshold(_decide_unthresholded(question, spans, hits, documents or {}, scorer or Scorer()), min_confidence)


def _decide_unthresholded(
    question: str, spans: Sequence[Span], hits: Sequence[Hit], documents: Mapping[str, DocumentInfo], scorer: Scorer
) -> Answer:
    """The answer at threshold 0: the best-ranked answer, every disagreeing version nearly as
    confident, and the most recent version where the question asks what is current. Nothing here
    depends on the threshold, so one call serves every threshold (``with_threshold``)."""
    ranked = rank_answers(spans, hits, scorer.span_scoring)
    if not ranked:
        return _abstain(question, hits, 0.0)
    groups = {r.key: list(r.spans) for r in ranked}
    # The best-ranked answer is chosen; confidence only decides whether rag answers at all.
    scored = [(scorer.confidence(r), r.key) for r in ranked]
    confidence, key = scored[0]
    chosen = Alternative(groups[key][0].text, confidence, _citations(groups[key], documents))
    alternatives = _disagreeing(chosen, scored[1:], groups, documents)
    chosen_because = None
    if alternatives and _ASKS_WHAT_IS_CURRENT.search(question):
        latest = max([chosen, *alternatives], key=_latest_date)
        if _latest_date(latest) and latest is not chosen:
            alternatives = [a for a in alternatives if a is not latest] + [chosen]
            chosen = latest
        if _latest_date(chosen):
            source = max(chosen.citations, key=lambda c: c.date or "")
            chosen_because = (
                f"the question asks what is current, and {source.doc_id} ({source.date}) is the most recent "
                "dated source"
            )
    return Answer(
        question=question,
        text=chosen.citations[0].quote,
        citations=chosen.citations,
        confidence=chosen.confidence,
        passages=tuple(hits),
        message=_message(chosen, alternatives),
        alternatives=tuple(alternatives),
        chosen_because=chosen_because,
    )


def _citations(spans: list[Span], documents: Mapping[str, DocumentInfo]) -> tuple[Citation, ...]:
    members = [s for s in spans if s is spans[0] or s.probability >= _MIN_SUPPORT_PROBABILITY]
    citations = []
    for s in _unique_places(members):
        info = documents.get(s.chunk.doc_id, DocumentInfo())
        page = page_of(info.page_starts, s.start)
        citations.append(
            Citation(s.chunk.doc_id, s.chunk.chunk_index, s.start, s.end, s.text, s.chunk, s.probability,
                     title=info.title or None, date=info.date, page=page)
        )
    return tuple(citations)


def _disagreeing(
    chosen: Alternative,
    scored: list[tuple[float, str]],
    groups: dict[str, list[Span]],
    documents: Mapping[str, DocumentInfo],
) -> list[Alternative]:
    """Answers nearly as strong as the chosen one, found only in other documents, naming something else.

    An answer sharing a word with the chosen one ("Gen Nakatani" / "Nakatani", or a longer span
    around it) is the same answer read differently, not a disagreement.
    """
    taken = [set(normalize_answer(chosen.text).split())]
    chosen_docs = {c.doc_id for c in chosen.citations}
    found: list[Alternative] = []
    for confidence, key in sorted(scored, key=lambda item: -item[0]):
        if len(found) == _MAX_ALTERNATIVES or confidence < _DISAGREEMENT_RATIO * chosen.confidence:
            break
        words = set(key.split())
        citations = _citations(groups[key], documents)
        if any(words & seen for seen in taken) or {c.doc_id for c in citations} <= chosen_docs:
            continue
        taken.append(words)
        found.append(Alternative(groups[key][0].text, confidence, citations))
    return found


def _latest_date(answer: Alternative) -> str:
    return max((c.date for c in answer.citations if c.date), default="")


def _message(chosen: Alternative, alternatives: list[Alternative]) -> str:
    if not alternatives:
        return f"{chosen.citations[0].quote} ({chosen.citations[0].doc_id})"
    versions = "; ".join(f"“{a.text}” ({source_list(a.citations)})" for a in [chosen, *alternatives])
    return f"The sources disagree: {versions}."


def with_threshold(answer: Answer, min_confidence: float) -> Answer:
    """The same answer under another abstention threshold: abstained if its confidence is below it,
    and without the disagreeing versions below it.

    ``decide(..., min_confidence=t)`` is exactly ``with_threshold(decide(..., min_confidence=0.0), t)``
    (``decide`` is defined that way), so one reading serves a whole threshold sweep, and ``rag eval``
    scores what ``Pipeline.ask`` returns.
    """
    if answer.abstained:
        return answer
    if answer.confidence < min_confidence:
        return _abstain(answer.question, answer.passages, answer.confidence)
    shown = tuple(a for a in answer.alternatives if a.confidence >= min_confidence)
    if shown == answer.alternatives:
        return answer
    chosen = Alternative(answer.text or "", answer.confidence, answer.citations)
    return dataclasses.replace(answer, alternatives=shown, message=_message(chosen, list(shown)))


def _unique_places(spans: list[Span]) -> list[Span]:
    """One citation per place in a document: overlapping passages find the same span twice, and the
    same mention is found with and without its full stop ("7777" / "7777."); the likelier one stays."""
    taken: dict[str, list[tuple[int, int]]] = {}
    unique = []
    for s in sorted(spans, key=lambda s: (-s.probability, s.chunk.doc_id, s.start)):
        places = taken.setdefault(s.chunk.doc_id, [])
        if not any(s.start < end and start < s.end for start, end in places):
            places.append((s.start, s.end))
            unique.append(s)
    return unique


def _abstain(question: str, hits: Sequence[Hit], confidence: float) -> Answer:
    return Answer(
        question=question, text=None, citations=(), confidence=confidence, passages=tuple(hits), message=ABSTAIN_MESSAGE
    )
