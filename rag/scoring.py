"""Rank the reader's spans across passages, and turn the best one's scores into a calibrated confidence.

Three ways to compare spans from different passages (``Config.span_scoring``):

- ``window_softmax``: the span's probability within its own window (start and end softmaxed over
  the window's tokens and [CLS]). A window that says nothing about the question still puts its
  mass somewhere, so an unrelated passage can hold a "confident" span.
- ``logits``: start + end logit, the model's raw score, on one scale for every window.
- ``shared_softmax``: start and end softmaxed over the context tokens of *all* windows of the
  question together (shared normalisation), so the passages compete for one probability mass.

Whatever ranks the spans, the confidence shown to users is computed from the features below by
rag/calibration.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rag.config import SPAN_SCORINGS
from rag.errors import ConfigError
from rag.normalize import normalize_answer
from rag.types import Hit, Span

# What the calibrator sees of an answer; each is cheap and on a scale that does not depend on the corpus.
FEATURES = (
    "logit",  # start + end logit of the answer's best span
    "null_margin",  # that logit minus its window's "no answer" logit
    "window_probability",  # its probability within its window
    "shared_probability",  # the answer's share of the question's shared-softmax mass
    "margin",  # its logit minus the best logit of any other answer (capped at 10)
    "inverse_rank",  # 1 / retrieval rank of its passage
    "cosine",  # dense similarity of question and its passage
    "bm25_share",  # its passage's BM25 score over the best BM25 score among the hits (not calibrated on:
    # a Milvus store scores BM25 its own way, so the same passage gets another share there)
    "tokens",  # span length in reader tokens
    "support",  # how many passages hold the answer
)
# What the shipped calibration is fitted on: every feature that means the same on every store.
CALIBRATED_FEATURES = tuple(f for f in FEATURES if f != "bm25_share")
_MARGIN_CAP = 10.0
# A span counts as support for an answer only if it is within this many logits of the answer's best.
_SUPPORT_LOGITS = 3.0


@dataclass(frozen=True, slots=True)
class RankedAnswer:
    """One answer text (SQuAD-normalised ``key``), its spans best first, its ranking score and features."""

    key: str
    spans: tuple[Span, ...]
    score: float
    features: dict[str, float]

    @property
    def best(self) -> Span:
        return self.spans[0]


def rank_answers(spans: Sequence[Span], hits: Sequence[Hit], scoring: str) -> list[RankedAnswer]:
    """Group spans by normalised text and rank the groups by ``scoring``, best first."""
    if scoring not in SPAN_SCORINGS:
        raise ConfigError(f"span_scoring must be one of {', '.join(SPAN_SCORINGS)}, not {scoring!r}")
    spans = one_per_place(spans)
    groups: dict[str, list[Span]] = {}
    for span in spans:
        key = normalize_answer(span.text)
        if key:
            groups.setdefault(key, []).append(span)
    if not groups:
        return []
    shared = _shared_probabilities(spans)
    for members in groups.values():
        if scoring == "window_softmax":
            members.sort(key=lambda s: (-s.probability, s.chunk.doc_id, s.start, s.end))
        else:  # shared softmax orders spans as their logits do
            members.sort(key=lambda s: (-s.logit, s.chunk.doc_id, s.start, s.end))
    place = {(h.chunk.doc_id, h.chunk.chunk_index): (rank, h) for rank, h in enumerate(hits, start=1)}
    top_bm25 = max((h.bm25_score for h in hits), default=0.0)

    def ranking_score(members: list[Span]) -> float:
        if scoring == "logits":
            return members[0].logit
        if scoring == "window_softmax":
            return max(s.probability for s in members)
        return sum(shared[id(s)] for s in members)

    scored = [(ranking_score(members), key, members) for key, members in groups.items()]
    # Ties go to the higher raw logit, then the text, for determinism.
    scored.sort(key=lambda item: (-item[0], -item[2][0].logit, item[1]))
    top_logits = sorted((max(s.logit for s in members) for _, _, members in scored), reverse=True)
    ranked = []
    for score, key, members in scored:
        best = members[0]
        own = max(s.logit for s in members)
        # The best logit of any other answer: the runner-up's when this one holds the top logit.
        if len(top_logits) == 1:
            other = best.logit - _MARGIN_CAP
        else:
            other = top_logits[1] if own == top_logits[0] else top_logits[0]
        rank, hit = place.get((best.chunk.doc_id, best.chunk.chunk_index), (len(hits) + 1, None))
        supporting = {(s.chunk.doc_id, s.chunk.chunk_index) for s in members if s.logit >= best.logit - _SUPPORT_LOGITS}
        features = {
            "logit": best.logit,
            "null_margin": best.logit - best.null_logit,
            "window_probability": best.probability,
            "shared_probability": sum(shared[id(s)] for s in members),
            "margin": max(-_MARGIN_CAP, min(_MARGIN_CAP, best.logit - other)),
            "inverse_rank": 1.0 / rank,
            "cosine": hit.dense_score if hit else 0.0,
            "bm25_share": hit.bm25_score / top_bm25 if hit and top_bm25 > 0 else 0.0,
            "tokens": float(best.tokens),
            "support": float(len(supporting)),
        }
        ranked.append(RankedAnswer(key, tuple(members), float(score), features))
    return ranked


def one_per_place(spans: Sequence[Span]) -> list[Span]:
    """One span per place in a document: overlapping passages read the same characters twice; the
    likelier reading stays (ties: the earlier passage). Applied to the passages that count, so
    reading more passages together and keeping some gives what reading those alone gives."""
    best: dict[tuple[str, int, int], Span] = {}
    for s in spans:
        key = (s.chunk.doc_id, s.start, s.end)
        kept = best.get(key)
        if kept is None or (s.probability, -s.chunk.chunk_index) > (kept.probability, -kept.chunk.chunk_index):
            best[key] = s
    return [s for s in spans if best[(s.chunk.doc_id, s.start, s.end)] is s]


def _shared_probabilities(spans: Sequence[Span]) -> dict[int, float]:
    """Each span's probability under one softmax over the context tokens of all the question's windows."""
    windows: dict[tuple[str, int, int], tuple[float, float]] = {}
    for s in spans:
        windows[(s.chunk.doc_id, s.chunk.chunk_index, s.window)] = (s.start_log_z, s.end_log_z)
    start_z = _log_sum_exp([z for z, _ in windows.values()])
    end_z = _log_sum_exp([z for _, z in windows.values()])
    # At most 0 whenever the log-partitions hold their spans' logits; clamped so that no input overflows.
    return {id(s): math.exp(min(0.0, s.start_logit - start_z + s.end_logit - end_z)) for s in spans}


def _log_sum_exp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))
