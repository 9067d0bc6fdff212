"""Rank the reader's spans across passages, and turn the best one's scores into a calibrated confidence.

Three ways to compare spans from different passages (``Config.span_scoring``):

- ``window_softmax``: the span's probability within its own window (start and end softmaxed over
  the window's tokens and [CLS]). A window that says nothing about the question still puts its
  mass somewhere, so an unrelated passage can hold a "confident" span.
- ``logits``: start + end logit, the model's raw score, on one scale for every window.
- ``shared_softmax``: start and end softmaxed over the context tokens of *all* windows of the
  question together (shared normalisation), so the passages compete for one probability mass.

Whatever ranks the spans, the confidence shown to users is a :class:`Calibrator`'s estimate of the
probability that the answer is right, from the features below; its coefficients are fitted on dev
questions (``python -m eval.tune``) and stored beside the reader (``calibration.json``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.atomic import write_atomic
from rag.config import SPAN_SCORINGS, Config
from rag.errors import ConfigError
from rag.normalize import normalize_answer
from rag.types import Hit, Span

CALIBRATION_FILE = "calibration.json"

log = logging.getLogger(__name__)

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
# A standardised feature is clipped to this many standard deviations: the fit saw nothing beyond,
# and a logistic regression extrapolated far out of its data is confidently wrong.
_CLIP_SD = 3.0
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


@dataclass(frozen=True, slots=True)
class Calibrator:
    """Logistic regression over standardised features: P(answer is right | features).

    Stored as JSON: ``features``, ``mean``, ``scale``, ``coefficients``, ``intercept``, and free
    ``fitted_on`` notes. Fitted by ``python -m eval.tune`` with scikit-learn; applying it needs none.
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coefficients: tuple[float, ...]
    intercept: float
    span_scoring: str = "logits"
    fitted_on: str = ""

    def confidence(self, answer: RankedAnswer) -> float:
        z = self.intercept + sum(
            c * max(-_CLIP_SD, min(_CLIP_SD, (answer.features[name] - m) / s))
            for name, m, s, c in zip(self.features, self.mean, self.scale, self.coefficients, strict=True)
        )
        return _sigmoid(z)

    def to_json(self) -> dict[str, object]:
        return {
            "features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
            "coefficients": list(self.coefficients), "intercept": self.intercept,
            "span_scoring": self.span_scoring, "fitted_on": self.fitted_on,
        }

    @classmethod
    def from_json(cls, data: dict[str, object], where: str = "calibration") -> Calibrator:
        try:
            features = tuple(str(f) for f in data["features"])  # type: ignore[attr-defined]
            numbers = [tuple(float(v) for v in data[k]) for k in ("mean", "scale", "coefficients")]  # type: ignore[attr-defined]
            intercept = float(data["intercept"])  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{where} is not a rag calibration file ({type(err).__name__}: {err})") from None
        unknown = set(features) - set(FEATURES)
        if unknown or any(len(n) != len(features) for n in numbers) or any(s <= 0 for s in numbers[1]):
            raise ConfigError(f"{where}: features must be among {', '.join(FEATURES)}, one mean, scale > 0 and coefficient each")
        return cls(features, *numbers, intercept=intercept, span_scoring=str(data.get("span_scoring", "logits")),
                   fitted_on=str(data.get("fitted_on", "")))

    def save(self, path: Path) -> None:
        """Write the calibration file atomically."""
        write_atomic(Path(path), json.dumps(self.to_json(), indent=2) + "\n")


def load_calibrator(path: Path) -> Calibrator | None:
    """The calibrator stored at ``path``, or None when there is no such file.

    Raises:
        ConfigError: The file exists but is not a calibration file.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read calibration file {path}: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"calibration file {path} must hold a JSON object")
    return Calibrator.from_json(data, str(path))


@dataclass(frozen=True, slots=True)
class Scorer:
    """How answers are ranked (``span_scoring``) and how sure rag is of one (``calibrator``)."""

    span_scoring: str = "window_softmax"
    calibrator: Calibrator | None = None

    def confidence(self, answer: RankedAnswer) -> float:
        """In [0, 1]: the calibrated probability that the answer is right, or without a calibrator
        the window probability discounted by passage similarity."""
        if self.calibrator is None:
            return uncalibrated_confidence(answer)
        return self.calibrator.confidence(answer)


def uncalibrated_confidence(answer: RankedAnswer) -> float:
    """For a reader with no calibration file: the window probability, discounted when the passage is
    far from the question (cosine of all-MiniLM-L6-v2 is near 0 for unrelated text, above ~0.4 on topic).
    """
    closeness = min(1.0, max(0.0, answer.features["cosine"]) / 0.4)
    return float(min(1.0, max(0.0, answer.features["window_probability"] * closeness)))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def scorer_for(config: Config, reader_location: str) -> Scorer:
    """The scorer a config asks for: its span scoring, and the calibration file it names or the
    reader's own ``calibration.json`` (a Hub id has none unless ``calibration_file`` is set)."""
    if config.calibration_file:
        path = Path(config.calibration_file).expanduser()
        calibrator = load_calibrator(path)
        if calibrator is None:
            raise ConfigError(f"calibration_file {path} does not exist; run python -m eval.tune to make one")
    else:
        path = Path(reader_location) / CALIBRATION_FILE
        calibrator = load_calibrator(path) if Path(reader_location).is_dir() else None
        if calibrator is None:
            log.warning("the reader %s has no %s: confidence is uncalibrated (python -m eval.tune fits one)",
                        reader_location, CALIBRATION_FILE)
    if calibrator is not None and calibrator.span_scoring != config.span_scoring:
        log.warning("%s was fitted with span_scoring %r, not %r: its confidence may be off",
                    path, calibrator.span_scoring, config.span_scoring)
    return Scorer(config.span_scoring, calibrator)
