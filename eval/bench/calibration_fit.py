"""Fit the confidence calibrator (logistic regression, scikit-learn) and pick the abstention threshold.

Both are fitted on dev questions only. Each corpus weighs the same in the fit, so a few seeds
questions are not drowned by hundreds of SQuAD ones.

"Right" is not exact match: an answer's target is its token F1 with the gold answers (a soft label;
0 for any answer to a question the documents do not answer). Fitted on exact match, the calibrator
learned that long answers are wrong, because a clause-long answer rarely matches a gold string to
the character even when it is the right clause, and rag declined right answers for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rag.calibration import Calibrator
from rag.errors import RagError
from rag.eval.bench.sweep import Outcome
from rag.eval.metrics import expected_calibration_error, mean, reliability_table
from rag.scoring import CALIBRATED_FEATURES

THRESHOLDS = tuple(round(t / 100, 2) for t in range(101))
# The most answerable questions rag may decline on any dev corpus (issue 29's target on test parts).
MAX_ANSWERABLE_DECLINED = 0.10


def fit_calibrator(corpora: Mapping[str, Sequence[Outcome]], span_scoring: str, note: str) -> Calibrator:
    """P(the best answer is right) from its features, fitted to each answer's F1 (soft labels)."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        raise RagError("fitting the calibrator needs scikit-learn: pip install -e '.[tune]'") from None
    rows, labels, weights = [], [], []
    answered = [[o for o in outcomes if o.answer is not None] for outcomes in corpora.values()]
    answered = [part for part in answered if part]
    total = sum(len(a) for a in answered)
    for part in answered:
        corpus_weight = total / (len(answered) * len(part))  # equal weight per corpus, mean weight 1
        for o in part:
            features = [o.answer.features[name] for name in CALIBRATED_FEATURES]
            # A soft label p is the pair (1, weight p) and (0, weight 1 - p): the log loss of p.
            for label, share in ((1, o.f1), (0, 1.0 - o.f1)):
                if share > 0:
                    rows.append(features)
                    labels.append(label)
                    weights.append(corpus_weight * share)
    if len(set(labels)) < 2:
        raise RagError("cannot fit a calibrator: the dev answers are all right or all wrong")
    scaler = StandardScaler().fit(rows)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(scaler.transform(rows), labels, sample_weight=weights)
    return Calibrator(
        features=CALIBRATED_FEATURES, mean=tuple(float(m) for m in scaler.mean_), scale=tuple(float(s) or 1.0 for s in scaler.scale_),
        coefficients=tuple(float(c) for c in model.coef_[0]), intercept=float(model.intercept_[0]),
        span_scoring=span_scoring, fitted_on=note,
    )


@dataclass(frozen=True, slots=True)
class Decline:
    """What one threshold does on one corpus's dev questions."""

    threshold: float
    f1: float  # over the answerable questions, a decline scoring 0
    em: float
    answerable_declined: float
    unanswerable_declined: float
    overall_f1: float  # F1 on an answerable question, 1 for declining an unanswerable one


def at_threshold(outcomes: Sequence[Outcome], calibrator: Calibrator, threshold: float) -> Decline:
    declined = [o.answer is None or calibrator.confidence(o.answer) < threshold for o in outcomes]
    answerable = [(o, d) for o, d in zip(outcomes, declined, strict=True) if o.gold.answerable]
    unanswerable = [d for o, d in zip(outcomes, declined, strict=True) if not o.gold.answerable]
    return Decline(
        threshold,
        f1=mean([0.0 if d else o.f1 for o, d in answerable]),
        em=mean([0.0 if d else o.em for o, d in answerable]),
        answerable_declined=mean([float(d) for _, d in answerable]),
        unanswerable_declined=mean([float(d) for d in unanswerable]),
        overall_f1=mean([0.0 if d else o.f1 for o, d in answerable] + [float(d) for d in unanswerable]),
    )


def choose_threshold(corpora: Mapping[str, Sequence[Outcome]], calibrator: Calibrator,
                     max_answerable_declined: float = MAX_ANSWERABLE_DECLINED) -> tuple[float, dict[float, dict[str, Decline]]]:
    """The threshold with the best mean overall F1 over the corpora among those that decline at most
    ``max_answerable_declined`` of the answerable questions of every corpus (ties: the middle of
    the longest run). Returns it and what every threshold does on every corpus."""
    table = {t: {name: at_threshold(o, calibrator, t) for name, o in corpora.items()} for t in THRESHOLDS}
    allowed = [t for t in THRESHOLDS if all(d.answerable_declined <= max_answerable_declined for d in table[t].values())]
    allowed = allowed or [THRESHOLDS[0]]
    score = {t: mean([d.overall_f1 for d in table[t].values()]) for t in allowed}
    best = max(score.values())
    runs: list[list[float]] = [[]]
    for t in allowed:
        if abs(score[t] - best) < 1e-12:
            runs[-1].append(t)
        elif runs[-1]:
            runs.append([])
    longest = max(runs, key=len)
    return longest[(len(longest) - 1) // 2], table


def calibration_error(outcomes: Sequence[Outcome], calibrator: Calibrator) -> float:
    """Expected calibration error of the confidence against each answer's F1 (binned means)."""
    answered = [o for o in outcomes if o.answer is not None]
    table = reliability_table([calibrator.confidence(o.answer) for o in answered], [o.f1 for o in answered])
    return expected_calibration_error(table)
