"""How sure rag is of an answer: a logistic regression over its features, fitted on dev questions.

The confidence shown to users is a :class:`Calibrator`'s estimate of the probability that the answer
is right, from the features of rag/scoring.py; its coefficients are fitted on dev questions
(``python -m rag.eval.bench.tune``) and stored beside the reader (``calibration.json``) or where
``calibration_file`` says. Applying it needs no scikit-learn.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from rag.atomic import write_atomic
from rag.config import Config
from rag.errors import ConfigError
from rag.scoring import FEATURES, RankedAnswer

CALIBRATION_FILE = "calibration.json"

log = logging.getLogger(__name__)

# A standardised feature is clipped to this many standard deviations: the fit saw nothing beyond,
# and a logistic regression extrapolated far out of its data is confidently wrong.
_CLIP_SD = 3.0


@dataclass(frozen=True, slots=True)
class Calibrator:
    """Logistic regression over standardised features: P(answer is right | features).

    Stored as JSON: ``features``, ``mean``, ``scale``, ``coefficients``, ``intercept``, and free
    ``fitted_on`` notes. Fitted by ``python -m rag.eval.bench.tune`` with scikit-learn; applying it needs none.
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
        mean, scale, coefficients = numbers
        return cls(features, mean, scale, coefficients, intercept=intercept, span_scoring=str(data.get("span_scoring", "logits")),
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
    on_topic_cosine: float = 0.4  # Config.on_topic_cosine: only without a calibrator

    def confidence(self, answer: RankedAnswer) -> float:
        """In [0, 1]: the calibrated probability that the answer is right, or without a calibrator
        the window probability discounted by passage similarity."""
        if self.calibrator is None:
            return uncalibrated_confidence(answer, self.on_topic_cosine)
        return self.calibrator.confidence(answer)


def uncalibrated_confidence(answer: RankedAnswer, on_topic_cosine: float = 0.4) -> float:
    """For a reader with no calibration file: the window probability, discounted when the passage's
    cosine with the question is below ``on_topic_cosine`` (the embedder's "on topic" level).
    """
    closeness = min(1.0, max(0.0, answer.features["cosine"]) / on_topic_cosine)
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
            raise ConfigError(f"calibration_file {path} does not exist; run python -m rag.eval.bench.tune to make one")
    else:
        path = Path(reader_location) / CALIBRATION_FILE
        calibrator = load_calibrator(path) if Path(reader_location).is_dir() else None
        if calibrator is None:
            log.warning("the reader %s has no %s: confidence is uncalibrated (python -m rag.eval.bench.tune fits one)",
                        reader_location, CALIBRATION_FILE)
    if calibrator is not None and calibrator.span_scoring != config.span_scoring:
        log.warning("%s was fitted with span_scoring %r, not %r: its confidence may be off",
                    path, calibrator.span_scoring, config.span_scoring)
    return Scorer(config.span_scoring, calibrator, config.on_topic_cosine)
