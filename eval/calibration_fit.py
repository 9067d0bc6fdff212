"""Fit the confidence calibrator (logistic regression, scikit-learn) and pick the abstention threshold.

Both are fitted on dev questions only. Each corpus weighs the same in the fit, so a few seeds
questions are not drowned by hundreds of SQuAD ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rag.calibration import Calibrator
from rag.errors import RagError
from rag.scoring import CALIBRATED_FEATURES

from .metrics import (
    Candidate,
    SweepPoint,
    best_threshold,
    expected_calibration_error,
    reliability_table,
    threshold_sweep,
)
from .sweep import Outcome

THRESHOLDS = tuple(round(t / 100, 2) for t in range(0, 101))


def fit_calibrator(corpora: Mapping[str, Sequence[Outcome]], span_scoring: str, note: str) -> Calibrator:
    """P(the best answer is right) from its features; an answer to an unanswerable question is wrong."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        raise RagError("fitting the calibrator needs scikit-learn: pip install -e '.[tune]'") from None
    rows, labels, weights = [], [], []
    answered = [[o for o in outcomes if o.answer is not None] for outcomes in corpora.values()]
    total = sum(len(a) for a in answered)
    for part in answered:
        for o in part:
            rows.append([o.answer.features[name] for name in CALIBRATED_FEATURES])  # type: ignore[union-attr]
            labels.append(int(o.em == 1.0))
            # Equal total weight per corpus, mean weight 1 (so the regularisation keeps its usual strength).
            weights.append(total / (len(answered) * len(part)))
    if len(set(labels)) < 2:
        raise RagError("cannot fit a calibrator: the dev answers are all right or all wrong")
    scaler = StandardScaler().fit(rows)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(scaler.transform(rows), labels, sample_weight=weights)
    return Calibrator(
        features=CALIBRATED_FEATURES, mean=tuple(float(m) for m in scaler.mean_), scale=tuple(float(s) or 1.0 for s in scaler.scale_),
        coefficients=tuple(float(c) for c in model.coef_[0]), intercept=float(model.intercept_[0]),
        span_scoring=span_scoring, fitted_on=note,
    )


def candidates(outcomes: Sequence[Outcome], calibrator: Calibrator) -> list[Candidate]:
    return [
        Candidate(confidence=calibrator.confidence(o.answer) if o.answer else 0.0, em=o.em,
                  answerable=o.gold.answerable, has_answer=o.answer is not None)
        for o in outcomes
    ]


def choose_threshold(corpora: Mapping[str, Sequence[Outcome]], calibrator: Calibrator) -> tuple[SweepPoint, list[SweepPoint]]:
    """The threshold with the best mean overall score over the corpora (middle of a plateau of ties).

    Returns the chosen point and the sweep, each point's scores being the means over the corpora.
    """
    sweeps = [threshold_sweep(candidates(o, calibrator), THRESHOLDS) for o in corpora.values()]
    averaged = [
        SweepPoint(t, sum(s[i].coverage for s in sweeps) / len(sweeps),
                   sum(s[i].answered_accuracy for s in sweeps) / len(sweeps), sum(s[i].overall for s in sweeps) / len(sweeps))
        for i, t in enumerate(THRESHOLDS)
    ]
    return best_threshold(averaged), averaged


def calibration_error(confidences: Sequence[float], correct: Sequence[bool]) -> float:
    return expected_calibration_error(reliability_table(confidences, correct))
