"""Answer metrics as pure functions (no I/O, no models): SQuAD v1.1 exact match and F1."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rag.answer import normalize_answer


def exact_match(prediction: str, gold_answers: Sequence[str]) -> float:
    """1.0 if the prediction equals any gold answer after SQuAD normalisation, else 0.0."""
    return float(any(normalize_answer(prediction) == normalize_answer(g) for g in gold_answers))


def f1(prediction: str, gold_answers: Sequence[str]) -> float:
    """Best token-overlap F1 of the prediction against the gold answers (SQuAD v1.1)."""
    return max((_token_f1(prediction, g) for g in gold_answers), default=0.0)


def _token_f1(prediction: str, gold: str) -> float:
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def mean(values: Sequence[float]) -> float:
    """The mean, or 0.0 for no values (a score over nothing is reported as 0, with its count)."""
    return sum(values) / len(values) if values else 0.0
