"""Span scoring across passages and the calibrated confidence: hand-made spans, then the real reader."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path

import pytest

from rag import Config, ConfigError
from rag.calibration import (
    CALIBRATION_FILE,
    Calibrator,
    Scorer,
    load_calibrator,
    scorer_for,
)
from rag.model_paths import SHIPPED_READER_DIR
from rag.reader import ExtractiveReader
from rag.scoring import FEATURES, rank_answers
from rag.types import Chunk, Hit, Span

A = Chunk("a.txt", 0, 0, 40, "Ahn met Nakatani in Seoul on a Monday.")
B = Chunk("b.txt", 0, 0, 40, "The weather was cold in Busan all week.")
HITS = [Hit(A, 0.03, dense_score=0.6, bm25_score=4.0), Hit(B, 0.02, dense_score=0.1, bm25_score=1.0)]


def _span(chunk: Chunk, word: str, start_logit: float, end_logit: float, probability: float,
          z: float = 6.5, null: float = 0.0) -> Span:
    start = chunk.text.index(word)
    return Span(chunk, start, start + len(word), word, probability, start_logit, end_logit, null / 2, null / 2,
                0, z, z, tokens=1)


def test_logits_compare_across_passages_where_window_softmax_does_not() -> None:
    # The unrelated passage's window puts nearly all its mass on "Busan", though its logits are low.
    spans = [_span(A, "Seoul", 6.0, 6.0, 0.60), _span(B, "Busan", 1.0, 1.0, 0.95, z=1.2)]
    assert rank_answers(spans, HITS, "window_softmax")[0].key == "busan"
    assert rank_answers(spans, HITS, "logits")[0].key == "seoul"
    shared = rank_answers(spans, HITS, "shared_softmax")
    assert shared[0].key == "seoul"
    assert 0.0 < sum(r.score for r in shared) <= 1.0 + 1e-9


def test_features_of_the_best_answer() -> None:
    spans = [_span(A, "Seoul", 6.0, 6.0, 0.6, null=2.0), _span(A, "Monday", 4.0, 4.0, 0.2), _span(B, "Busan", 1.0, 1.0, 0.9)]
    best = rank_answers(spans, HITS, "logits")[0]
    assert set(best.features) == set(FEATURES)
    assert best.features["logit"] == 12.0 and best.features["null_margin"] == 10.0
    assert best.features["margin"] == 4.0  # over "Monday"
    assert best.features["inverse_rank"] == 1.0 and best.features["bm25_share"] == 1.0
    assert best.features["cosine"] == 0.6 and best.features["support"] == 1.0
    runner_up = rank_answers(spans, HITS, "logits")[1]
    assert runner_up.features["margin"] == -4.0


def test_unknown_scoring_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="span_scoring must be one of"):
        rank_answers([], HITS, "votes")
    with pytest.raises(ConfigError, match="span_scoring"):
        Config(span_scoring="votes")


def _calibrator(logit_weight: float = 2.0) -> Calibrator:
    n = len(FEATURES)
    coefficients = tuple(logit_weight if f == "logit" else 0.0 for f in FEATURES)
    means = tuple(10.0 if f == "logit" else 0.0 for f in FEATURES)
    return Calibrator(FEATURES, means, (5.0,) * n, coefficients, intercept=0.0, span_scoring="logits")


def test_calibrated_confidence_is_a_probability_that_rises_with_the_score() -> None:
    calibrator = _calibrator()
    confidences = [calibrator.confidence(rank_answers([_span(A, "Seoul", x, x, 0.5)], HITS, "logits")[0])
                   for x in (-20, 0, 5, 7.5, 10, 500)]
    assert all(0.0 <= c <= 1.0 for c in confidences)
    assert confidences == sorted(confidences)
    assert math.isclose(confidences[2], 0.5)  # logit 10, the mean: z = 0
    assert math.isclose(confidences[3], 1 / (1 + math.exp(-2.0)))  # (15 - 10) / 5 * 2
    # Far outside what the fit saw, a feature counts as 3 standard deviations, no more.
    assert math.isclose(confidences[-1], 1 / (1 + math.exp(-6.0))) and math.isclose(confidences[0], 1 / (1 + math.exp(6.0)))


def test_calibration_file_round_trip_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / CALIBRATION_FILE
    _calibrator(0.5).save(path)
    assert load_calibrator(path) == _calibrator(0.5)
    assert load_calibrator(tmp_path / "absent.json") is None
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read calibration file"):
        load_calibrator(path)
    path.write_text(json.dumps({**_calibrator().to_json(), "features": ["astrology"] * len(FEATURES)}), encoding="utf-8")
    with pytest.raises(ConfigError, match="features must be among"):
        load_calibrator(path)


def test_scorer_for_a_reader_folder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        scorer = scorer_for(Config(span_scoring="logits"), str(tmp_path))  # a reader folder with no calibration
    assert scorer.calibrator is None and "uncalibrated" in caplog.text
    _calibrator().save(tmp_path / CALIBRATION_FILE)
    assert scorer_for(Config(span_scoring="logits"), str(tmp_path)).calibrator == _calibrator()
    with pytest.raises(ConfigError, match="does not exist"):
        scorer_for(Config(calibration_file=str(tmp_path / "nope.json")), str(tmp_path))


def test_the_shipped_reader_ships_its_calibration() -> None:
    calibrator = load_calibrator(SHIPPED_READER_DIR / CALIBRATION_FILE)
    assert calibrator is not None and calibrator.span_scoring == Config().span_scoring
    assert "rag.eval.bench.tune" in calibrator.fitted_on


# --- the real reader ---------------------------------------------------------------------------


def _chunk(text: str, doc_id: str) -> Chunk:
    return Chunk(doc_id, 0, 0, len(text), text)


def test_a_passage_without_the_answer_gets_lower_confidence(reader: ExtractiveReader) -> None:
    question = "In what year did Japan and South Korea normalize diplomatic relations?"
    relevant = _chunk("Japan and South Korea normalized diplomatic relations in 1965, twenty years after the war.", "a.txt")
    unrelated = _chunk("The weather in the mountains was cold and windy all week, and the roads closed in 1999.", "b.txt")
    scorer = scorer_for(Config(), reader.location)
    assert scorer.calibrator is not None
    confidences = {}
    for passage, cosine in ((relevant, 0.7), (unrelated, 0.05)):
        hits = [Hit(passage, 1.0, dense_score=cosine, bm25_score=1.0)]
        best = rank_answers(reader.read(question, [passage]), hits, scorer.span_scoring)[0]
        confidences[passage.doc_id] = scorer.confidence(best)
    assert 0.0 <= confidences["b.txt"] < confidences["a.txt"] <= 1.0
    assert confidences["a.txt"] > 0.5 > confidences["b.txt"]


def test_scorings_agree_on_an_easy_question_and_shared_probabilities_sum_to_at_most_one(reader: ExtractiveReader) -> None:
    question = "How many sailors were killed in the sinking of the Cheonan?"
    passages = [_chunk("The Cheonan warship was sunk in 2010 by a North Korean torpedo, killing 46 sailors.", "a.txt"),
                _chunk("Seoul and Tokyo agreed to hold regular talks between their defense ministers.", "b.txt")]
    spans = reader.read(question, passages)
    hits = [Hit(p, 1.0, dense_score=0.5, bm25_score=1.0) for p in passages]
    for scoring in ("window_softmax", "logits", "shared_softmax"):
        assert rank_answers(spans, hits, scoring)[0].best.text == "46"
    assert sum(r.features["shared_probability"] for r in rank_answers(spans, hits, "shared_softmax")) <= 1.0 + 1e-9
    # A span's logit is the sum of its start and end logits, and its window's no-answer score is finite.
    assert all(math.isfinite(s.null_logit) and s.logit == s.start_logit + s.end_logit for s in spans)


def test_pipeline_confidence_is_calibrated_and_declines_outside_questions(seeds_pipeline) -> None:
    answer = seeds_pipeline.ask("How many sailors were killed in the sinking of the Cheonan?")
    assert answer.text is not None and "46" in answer.text
    assert seeds_pipeline.scorer.calibrator is not None
    outside = seeds_pipeline.ask("What is the boiling point of water at sea level?", min_confidence=0.0)
    assert 0.0 <= outside.confidence < answer.confidence <= 1.0


def test_scorer_with_no_calibrator_keeps_the_old_confidence() -> None:
    best = rank_answers([_span(A, "Seoul", 6.0, 6.0, 0.8)], HITS, "window_softmax")[0]
    assert Scorer().confidence(best) == 0.8  # cosine 0.6 is above 0.4: no discount
    far = dataclasses.replace(best, features={**best.features, "cosine": 0.1})
    assert Scorer().confidence(far) == pytest.approx(0.2)
