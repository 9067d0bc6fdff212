"""SQuAD v1.1 answer normalisation and its two scores: what makes two answer texts the same answer."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache


@lru_cache(maxsize=65536)
def normalize_answer(text: str) -> str:
    """SQuAD v1.1 answer normalisation: lower case, no punctuation, articles or extra spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_PUNCTUATION = frozenset(string.punctuation)


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
