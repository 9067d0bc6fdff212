"""The SQuAD benchmark: file reading, abstention scores and threshold search, and a tiny real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.eval.bench import squad
from rag.training.squad import Prediction, abstention_scores, best_threshold, load_squad

TINY_V2 = {
    "version": "v2.0",
    "data": [
        {"title": f"Article {a}", "paragraphs": [{
            "context": "The Cheonan warship sank in 2010. Forty-six sailors died. It was a corvette of the navy.",
            "qas": [
                {"id": f"{a}-has", "question": "In what year did the Cheonan sink?", "answers": [{"text": "2010", "answer_start": 28}], "is_impossible": False},
                {"id": f"{a}-none", "question": "Who built the Cheonan?", "answers": [], "is_impossible": True},
            ],
        }]}
        for a in range(4)
    ],
}


@pytest.fixture
def tiny_v2(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-v2.json"
    path.write_text(json.dumps(TINY_V2), encoding="utf-8")
    return path


def test_load_squad_flattens_in_file_order(tiny_v2: Path) -> None:
    examples = load_squad(tiny_v2)
    assert [e.qid for e in examples] == ["0-has", "0-none", "1-has", "1-none", "2-has", "2-none", "3-has", "3-none"]
    assert examples[0].answers == ("2010",) and examples[0].context[examples[0].answer_start :].startswith("2010")
    assert examples[1].answers == () and examples[1].answer_start == -1
    assert [e.qid for e in load_squad(tiny_v2, limit=3)] == ["0-has", "0-none", "1-has"]


def test_abstention_scores_on_literals(tiny_v2: Path) -> None:
    examples = load_squad(tiny_v2)[:4]
    predictions = [Prediction("0-has", "2010", 0.9), Prediction("0-none", "Korea", 0.2),
                   Prediction("1-has", "in 2010", 0.4), Prediction("1-none", "navy", 0.8)]
    s = abstention_scores(examples, predictions, threshold=0.5)
    assert s["has_ans_f1"] == pytest.approx(0.5)  # 1.0 answered, the other abstained (0)
    assert s["no_ans_accuracy"] == pytest.approx(0.5)  # one abstained, one answered
    assert s["overall_f1"] == pytest.approx(0.5)
    s = abstention_scores(examples, predictions, threshold=0.0)
    assert s["has_ans_f1"] == pytest.approx((1.0 + 2 / 3) / 2) and s["no_ans_accuracy"] == 0.0


def test_best_threshold_matches_brute_force(tiny_v2: Path) -> None:
    examples = load_squad(tiny_v2)
    probabilities = [0.9, 0.7, 0.3, 0.35, 0.6, 0.1, 0.8, 0.65]
    texts = ["2010", "x", "2010", "y", "1999", "z", "2010", "w"]
    predictions = [Prediction(e.qid, t, p) for e, t, p in zip(examples, texts, probabilities)]
    found = best_threshold(examples, predictions)
    candidates = sorted({0.0, *probabilities, max(probabilities) + 1e-6})
    best = max(abstention_scores(examples, predictions, t)["overall_f1"] for t in candidates)
    assert abstention_scores(examples, predictions, found)["overall_f1"] == pytest.approx(best)
    assert found in candidates  # one of the probabilities, just above the highest, or 0


def test_best_threshold_with_tied_probabilities(tiny_v2: Path) -> None:
    # An answerable and an unanswerable question with the same probability once crashed the sort.
    examples = load_squad(tiny_v2)[:4]
    predictions = [Prediction(e.qid, t, 0.5) for e, t in zip(examples, ["2010", "Korea", "2010", "navy"])]
    found = best_threshold(examples, predictions)
    assert found in (0.0, 0.5 + 1e-6)


def test_benchmark_json_on_a_tiny_v2_file(tiny_v2: Path, capsys) -> None:
    assert squad.main(["--data", str(tiny_v2), "--backend", "torch", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n"] == 8 and set(data["predictions"]) == {e.qid for e in load_squad(tiny_v2)}
    assert data["em"] == 1.0 and data["f1"] == 1.0  # "2010" is easy for the reader
    assert data["questions_per_s"] > 0 and data["peak_rss_mb"] > 0
    abstention = data["abstention"]
    assert "first 2 of 4 articles" in abstention["tuned_on"]
    assert {"has_ans_f1", "no_ans_accuracy", "overall_f1"} <= set(abstention["at_best_threshold"])
    assert data["reference"]["f1"] == 0.871


def test_benchmark_table_shows_every_backend(tiny_v2: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "rag.toml"
    config.write_text("max_answer_tokens = 15\n", encoding="utf-8")  # the exports come from the user's cache
    assert squad.main(["--data", str(tiny_v2), "--limit", "2", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "[onnx]" in out and "[onnx-int8]" in out and "[torch]" in out and "distilbert-base-cased-distilled-squad" in out
