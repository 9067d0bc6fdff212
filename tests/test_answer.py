"""Answer decision: grouping, citations and abstention, on hand-made spans (no model)."""

from __future__ import annotations

from rag.answer import decide, normalize_answer
from rag.types import Chunk, Hit, Span

DOC_A = "Ahn met Nakatani in Seoul. Seoul hosted the talks."
DOC_B = "The meeting took place in SEOUL, South Korea."


def _chunk(doc_id: str, text: str) -> Chunk:
    return Chunk(doc_id, 0, 0, len(text), text)


def _span(chunk: Chunk, word: str, probability: float, occurrence: int = 0) -> Span:
    start = -1
    for _ in range(occurrence + 1):
        start = chunk.text.index(word, start + 1)
    return Span(chunk, start, start + len(word), chunk.text[start : start + len(word)], probability)


A, B = _chunk("a.txt", DOC_A), _chunk("b.txt", DOC_B)
HITS = [Hit(A, 0.03, dense_score=0.6, bm25_score=2.0), Hit(B, 0.02, dense_score=0.5, bm25_score=1.0)]


def test_same_answer_in_several_places_is_one_answer() -> None:
    spans = [_span(A, "Seoul", 0.8), _span(B, "SEOUL", 0.6), _span(A, "Seoul", 0.3, occurrence=1), _span(A, "Nakatani", 0.1)]
    answer = decide("Where?", spans, HITS, min_confidence=0.5)
    assert answer.text == "Seoul"
    assert [(c.doc_id, c.start) for c in answer.citations] == [("a.txt", 20), ("b.txt", 26), ("a.txt", 27)]
    assert answer.to_json()["supporting_passages"] == 2
    assert answer.confidence == 0.8


def test_weak_evidence_abstains_and_keeps_passages() -> None:
    answer = decide("Where?", [_span(A, "Seoul", 0.3)], HITS, min_confidence=0.5)
    assert answer.abstained and answer.text is None and answer.citations == ()
    assert answer.passages == tuple(HITS)
    assert answer.confidence == 0.3


def test_unrelated_passage_discounts_confidence() -> None:
    far = [Hit(A, 0.03, dense_score=0.1, bm25_score=0.0)]
    answer = decide("What is the capital of France?", [_span(A, "Seoul", 0.9)], far, min_confidence=0.5)
    assert answer.abstained
    assert answer.confidence < 0.9


def test_no_spans_abstains() -> None:
    answer = decide("Where?", [], HITS, min_confidence=0.5)
    assert answer.abstained and answer.confidence == 0.0


def test_json_shape_is_the_contract() -> None:
    data = decide("Where?", [_span(A, "Seoul", 0.8)], HITS, min_confidence=0.5).to_json()
    assert {"question", "answer", "abstained", "confidence", "citations"} <= set(data)
    assert data["answer"] == data["citations"][0]["quote"] == DOC_A[20:25]
    assert {"doc_id", "start", "end", "quote"} <= set(data["citations"][0])


def test_squad_normalisation() -> None:
    assert normalize_answer("The  Cheonan, warship!") == "cheonan warship"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("...") == ""
