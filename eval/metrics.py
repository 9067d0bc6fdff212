"""Evaluation metrics as pure functions (no I/O, no models): answers, abstention, retrieval, calibration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.normalize import exact_match, f1, normalize_answer  # noqa: F401 (exact_match and f1 are part of this module's API)


def mean(values: Sequence[float]) -> float:
    """The mean, or 0.0 for no values (a score over nothing is reported as 0, with its count)."""
    return sum(values) / len(values) if values else 0.0


# --- abstention ----------------------------------------------------------------------------------


def abstention_recall(abstained: Sequence[bool], answerable: Sequence[bool]) -> float:
    """Of the unanswerable questions, the share rag abstained on."""
    return mean([float(a) for a, ok in zip(abstained, answerable) if not ok])


def abstention_precision(abstained: Sequence[bool], answerable: Sequence[bool]) -> float:
    """Of rag's abstentions, the share that were on unanswerable questions (0.0 with none)."""
    return mean([float(not ok) for a, ok in zip(abstained, answerable) if a])


def overall_score(em: Sequence[float], abstained: Sequence[bool], answerable: Sequence[bool]) -> float:
    """Mean over all questions: EM on an answerable one (0 if abstained), 1 for abstaining on an unanswerable one."""
    return mean([e if ok else float(a) for e, a, ok in zip(em, abstained, answerable)])


# --- retrieval -----------------------------------------------------------------------------------


def passage_has_answer(passage: str, doc_id: str, gold_doc_ids: Sequence[str], gold_answers: Sequence[str]) -> bool:
    """A retrieval hit: a passage of a gold document that contains a gold answer (normalised)."""
    if doc_id not in gold_doc_ids:
        return False
    text = f" {normalize_answer(passage)} "
    return any(f" {normalize_answer(a)} " in text for a in gold_answers if normalize_answer(a))


def recall_at_k(hits: Sequence[bool], k: int) -> float:
    """1.0 if any of the first k retrieved passages is a hit."""
    return float(any(hits[:k]))


def reciprocal_rank(hits: Sequence[bool]) -> float:
    """1 / rank of the first hit, 0.0 if none was retrieved."""
    return next((1.0 / rank for rank, hit in enumerate(hits, start=1) if hit), 0.0)


# --- calibration and latency -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    low: float
    high: float
    count: int
    mean_confidence: float  # 0.0 when empty
    accuracy: float  # share correct; 0.0 when empty


def reliability_table(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> list[CalibrationBin]:
    """Equal-width confidence bins over [0, 1] with each bin's mean confidence and accuracy."""
    table = []
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [(c, ok) for c, ok in zip(confidences, correct) if low <= c < high or (b == bins - 1 and c == 1.0)]
        table.append(
            CalibrationBin(low, high, len(members), mean([c for c, _ in members]), mean([float(ok) for _, ok in members]))
        )
    return table


def expected_calibration_error(table: Sequence[CalibrationBin]) -> float:
    """Count-weighted mean gap between confidence and accuracy over the bins."""
    total = sum(b.count for b in table)
    return sum(b.count * abs(b.mean_confidence - b.accuracy) for b in table) / total if total else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- abstention threshold ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """One question's best answer before any threshold: its confidence and whether it is right."""

    confidence: float
    em: float  # of the candidate answer (0.0 when there is none)
    answerable: bool
    has_answer: bool = True  # False: the reader found no span at all, so rag abstains at any threshold


@dataclass(frozen=True, slots=True)
class SweepPoint:
    threshold: float
    coverage: float  # share of questions answered
    answered_accuracy: float  # EM over the answered answerable ones, 0 for answered unanswerable ones
    overall: float


def threshold_sweep(candidates: Sequence[Candidate], thresholds: Sequence[float]) -> list[SweepPoint]:
    """Coverage, accuracy of what is answered, and overall score at each threshold."""
    points = []
    for t in thresholds:
        abstained = [not c.has_answer or c.confidence < t for c in candidates]
        answered = [c for c, a in zip(candidates, abstained) if not a]
        points.append(
            SweepPoint(
                threshold=t,
                coverage=len(answered) / len(candidates) if candidates else 0.0,
                answered_accuracy=mean([c.em if c.answerable else 0.0 for c in answered]),
                overall=overall_score([0.0 if a else c.em for c, a in zip(candidates, abstained)], abstained,
                                      [c.answerable for c in candidates]),
            )
        )
    return points


def best_threshold(points: Sequence[SweepPoint]) -> SweepPoint:
    """The point with the best overall score; among ties, the middle of the longest run of them.

    A threshold in the middle of a plateau is the least sensitive to the exact questions tuned on.
    """
    best = max(p.overall for p in points)
    runs: list[list[SweepPoint]] = [[]]
    for p in points:
        if abs(p.overall - best) < 1e-12:
            runs[-1].append(p)
        elif runs[-1]:
            runs.append([])
    longest = max(runs, key=len)
    return longest[(len(longest) - 1) // 2]
