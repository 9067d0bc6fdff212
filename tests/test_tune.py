"""The tuning sweep: one reading scored many ways gives what the pipeline itself answers; the SQuAD
split by article halves; the calibrator and threshold fitted from dev outcomes (real models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import Config, Pipeline
from rag.calibration import Scorer
from rag.eval.bench.calibration_fit import (
    THRESHOLDS,
    at_threshold,
    choose_threshold,
    fit_calibrator,
)
from rag.eval.bench.corpora import squad_corpus
from rag.eval.bench.sweep import (
    AnswerSetting,
    ReadSetting,
    Retrieval,
    Setting,
    accuracy,
    corpus_pipeline,
    outcomes,
    read_questions,
)
from rag.eval.bench.tune import choose
from rag.eval.gold import load_gold
from rag.reader import ExtractiveReader
from rag.scoring import CALIBRATED_FEATURES
from tests.helpers import REPO, SEEDS

READ = ReadSetting(400, 0)
RETRIEVALS = [Retrieval("dense"), Retrieval("hybrid", 60)]


@pytest.fixture(scope="module")
def seeds_readings(tmp_path_factory: pytest.TempPathFactory, embedder, reader):
    dev = [q for q in load_gold(REPO / "eval" / "gold.jsonl") if q.split == "dev"]
    questions = [q for q in dev if q.answerable][:8] + [q for q in dev if not q.answerable][:4]
    pipeline = corpus_pipeline(Config(), SEEDS, tmp_path_factory.mktemp("tune"), READ, embedder, reader)
    return pipeline, read_questions(pipeline, reader, questions, RETRIEVALS, 5)


@pytest.mark.parametrize("answer", [AnswerSetting("dense", 3, 60, "logits", 30),
                                    AnswerSetting("hybrid", 5, 60, "shared_softmax", 15),
                                    AnswerSetting("hybrid", 1, 60, "window_softmax", 30)])
def test_one_reading_scored_offline_equals_the_pipeline(seeds_readings, embedder, reader, answer: AnswerSetting) -> None:
    pipeline, readings = seeds_readings
    config = Setting(READ, answer).config(pipeline.config)
    # This reader limits answer length itself, where the sweep filters one longer reading.
    own_reader = ExtractiveReader(config)
    own_reader.__dict__["backend"] = reader.backend  # the same weights, loaded once
    direct = Pipeline(config, embedder=embedder, reader=own_reader, scorer=Scorer(answer.span_scoring))
    for outcome in outcomes(readings, answer):
        got = direct.ask(outcome.gold.question, min_confidence=0.0)
        assert got.text == outcome.text, outcome.gold.question


def test_accuracy_and_choice(seeds_readings) -> None:
    _, readings = seeds_readings
    scores = accuracy(outcomes(readings, AnswerSetting("hybrid", 5, 60, "logits", 30)))
    assert 0.0 <= scores["em"] <= scores["f1"] <= 1.0 and scores["n"] == sum(r.gold.answerable for r in readings)
    rows = [{"setting": s, "objective": o, "read_p50_s": t} for s, o, t in (("slow", 0.80, 0.2), ("fast", 0.797, 0.05), ("bad", 0.5, 0.01))]
    assert choose(rows)["setting"] == "fast"  # within 0.005 of the best, and faster


def test_calibrator_and_threshold_from_dev_outcomes(seeds_readings) -> None:
    _, readings = seeds_readings
    results = outcomes(readings, AnswerSetting("hybrid", 5, 60, "logits", 30))
    calibrator = fit_calibrator({"seeds": results, "again": results}, "logits", "test")
    assert calibrator.features == CALIBRATED_FEATURES and calibrator.span_scoring == "logits"
    confidences = [calibrator.confidence(o.answer) for o in results if o.answer]
    assert all(0.0 <= c <= 1.0 for c in confidences)
    right = [calibrator.confidence(o.answer) for o in results if o.answer and o.f1 == 1.0]
    wrong = [calibrator.confidence(o.answer) for o in results if o.answer and o.f1 == 0.0]
    if right and wrong:  # fitted on these very answers: right ones must score higher on average
        assert sum(right) / len(right) > sum(wrong) / len(wrong)
    threshold, table = choose_threshold({"seeds": results}, calibrator, max_answerable_declined=0.10)
    assert threshold in THRESHOLDS and set(table) == set(THRESHOLDS)
    chosen = table[threshold]["seeds"]
    assert chosen == at_threshold(results, calibrator, threshold)
    assert chosen.answerable_declined <= 0.10  # the cap holds
    allowed = [t for t in THRESHOLDS if table[t]["seeds"].answerable_declined <= 0.10]
    assert chosen.overall_f1 == max(table[t]["seeds"].overall_f1 for t in allowed)
    # Declining more never declines fewer: both shares grow with the threshold.
    shares = [(table[t]["seeds"].answerable_declined, table[t]["seeds"].unanswerable_declined) for t in THRESHOLDS]
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(shares, shares[1:]))


def test_soft_labels_keep_a_long_right_answer_right() -> None:
    """Fitted to F1, an answer that overlaps the gold answer mostly counts as mostly right: the
    calibrator's target for it is its F1, not 0 (exact match's verdict)."""
    from rag.eval.bench.sweep import Outcome
    from rag.eval.gold import GoldQuestion
    from rag.scoring import RankedAnswer

    def outcome(text: str, gold: str, logit: float) -> Outcome:
        features = {name: 0.0 for name in CALIBRATED_FEATURES} | {"logit": logit, "tokens": float(len(text.split()))}
        span = type("S", (), {"text": text})()
        ranked = RankedAnswer(text, (span,), logit, features)  # type: ignore[arg-type]
        return Outcome(GoldQuestion("q", "?", (gold,), ("d",)), ranked, ())

    long_gold = "to take responsibility for the loss of the ruling coalition's majority"
    near = [outcome("to take responsibility for the loss of the coalition's majority", long_gold, 8.0 + i / 10) for i in range(10)]
    wrong = [outcome("Tokyo", "Seoul", 2.0 + i / 10) for i in range(10)]
    calibrator = fit_calibrator({"a": near + wrong}, "logits", "test")
    assert all(o.f1 > 0.8 and o.em == 0.0 for o in near)
    assert min(calibrator.confidence(o.answer) for o in near) > 0.6 > max(calibrator.confidence(o.answer) for o in wrong)


def test_squad_split_is_by_article_halves(tiny: Path, tmp_path: Path) -> None:
    corpus = squad_corpus("tiny", tiny, tmp_path, dev_sample=10, test_every=1, seed=0)
    assert {q.id for q in corpus.dev} == {"q1", "q2", "q3"}  # the first of two articles
    assert {q.id for q in corpus.test} == {"q4", "q5"}
    assert {q.split for q in corpus.dev} == {"dev"} and {q.split for q in corpus.test} == {"test"}
    assert not next(q for q in corpus.test if q.id == "q5").answerable
    sampled = squad_corpus("tiny", tiny, tmp_path, dev_sample=2, test_every=2, seed=0)
    assert len(sampled.dev) == 2 and [q.id for q in sampled.test] == ["q4"]
