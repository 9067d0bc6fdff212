"""The eval suite with the real pipeline: splits, retrieval metrics, ablations, tuning, report, gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import Config, Pipeline, cli, load_config
from rag.config import RETRIEVAL_MODES
from rag.eval.compare import compare
from rag.eval.errors import GoldFileError
from rag.eval.floors import Floors, below_floors, load_floors
from rag.eval.gold import load_gold
from rag.eval.report import PLOTS, write_report
from rag.eval.runner import ABLATION_KS, run_eval
from rag.eval.summary import to_json
from rag.eval.tuning import THRESHOLDS, tune, write_threshold
from tests.helpers import REPO, SEEDS

GOLD = REPO / "eval" / "gold.jsonl"
FLOORS = REPO / "eval" / "floors.json"


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 gold questions: for each split, 5 answerable and 3 the documents do not answer."""
    rows = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines()]
    picked = []
    for split in ("dev", "test"):
        picked += [r for r in rows if r["split"] == split and r["answers"]][:5]
        picked += [r for r in rows if r["split"] == split and not r["answers"]][:3]
    path = tmp_path_factory.mktemp("gold") / "subset.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in picked), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def result(seeds_pipeline: Pipeline, subset: Path):
    return run_eval(seeds_pipeline, subset, ablations=True)


def test_splits_are_scored_apart(result) -> None:
    assert result.splits == ["dev", "test"]
    for split in ("dev", "test"):
        part = result.part(split).summary()
        assert (part["n"], part["answerable"], part["unanswerable"]) == (8, 5, 3)
    assert result.summary()["n"] == 16


def test_threshold_is_applied_to_the_unthresholded_candidate(seeds_pipeline: Pipeline, result) -> None:
    for q in result.questions:
        candidate = q.candidate
        assert candidate is not None and candidate.confidence == q.answer.confidence
        assert q.answer.abstained == (candidate.text is None or candidate.confidence < result.min_confidence)
    q = next(q for q in result.questions if q.candidate.text is not None)
    above, below = q.candidate.confidence - 0.01, min(1.0, q.candidate.confidence + 0.01)
    assert not seeds_pipeline.ask(q.gold.question, min_confidence=max(0.0, above)).abstained
    assert seeds_pipeline.ask(q.gold.question, min_confidence=below).abstained


def test_retrieval_metrics_and_latency(result) -> None:
    s = result.summary()
    assert 0.0 <= s["recall_at_1"] <= s["recall_at_3"] <= s["recall_at_5"] <= s["recall_at_10"] <= 1.0
    assert s["recall_at_5"] >= 0.9  # the answers of these questions are in the top 5 passages
    assert s["recall_at_1"] <= s["mrr"] <= s["recall_at_10"]
    latency = result.latency()
    assert set(latency) == {"retrieve", "read", "total"}
    assert all(0 < v["p50"] <= v["p95"] for v in latency.values())


def test_ablations_cover_every_mode_and_k_and_agree_with_the_main_run(seeds_pipeline: Pipeline, result) -> None:
    rows = {(r.mode, r.k): r for r in result.ablations}
    config = seeds_pipeline.config
    assert set(rows) == {(m, k) for m in RETRIEVAL_MODES for k in {*ABLATION_KS, config.top_k}}
    same = rows[(config.retrieval, config.top_k)]
    s = result.summary()
    # Reading passages together or apart gives the same spans, so the configured cell is the main run.
    assert (same.em, same.f1, same.overall, same.abstention_recall) == pytest.approx(
        (s["em"], s["f1"], s["overall"], s["abstention_recall"]), abs=1e-9
    )
    assert rows[("dense", 1)].recall <= rows[("dense", 10)].recall


def test_tuning_uses_only_the_dev_part(result) -> None:
    tuning = tune(result)
    assert tuning.tuned_on == "dev" and len(tuning.sweep) == len(THRESHOLDS)
    dev_only = tune(result.part("dev"))
    assert dev_only.chosen == tuning.chosen  # the test questions did not move the choice
    assert tuning.chosen.overall == max(p.overall for p in tuning.sweep)
    assert tuning.test_at_chosen is not None and tuning.test_at_chosen.threshold == tuning.chosen.threshold


def test_report_has_its_sections_and_plots(result, subset: Path, tmp_path: Path) -> None:
    report = write_report(result, tune(result), tmp_path / "report", subset)
    text = report.read_text(encoding="utf-8")
    for heading in ("## Summary", "## Latency", "## Abstention threshold", "## Calibration", "## Ablations",
                    "worst questions", "## Every question"):
        assert heading in text
    for q in result.questions:
        assert f"| {q.gold.id} |" in text
    for name in PLOTS:
        data = (tmp_path / "report" / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000 and f"]({name})" in text
    saved = json.loads((tmp_path / "report" / "results.json").read_text(encoding="utf-8"))
    assert saved["n"] == 16 and set(saved["splits"]) == {"dev", "test"} and len(saved["ablations"]) == len(RETRIEVAL_MODES) * len({*ABLATION_KS, Config().top_k})


def test_write_threshold_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    config = tmp_path / "rag.toml"
    config.write_text('# my settings\ntop_k = 3\nmin_confidence = 0.9  # old\n\n[rag]\nretrieval = "bm25"\n', encoding="utf-8")
    write_threshold(config, 0.27)
    expected = '# my settings\ntop_k = 3\nmin_confidence = 0.27  # old\n\n[rag]\nretrieval = "bm25"\n'
    assert config.read_text(encoding="utf-8") == expected
    assert load_config(config).min_confidence == 0.27 and load_config(config).top_k == 3
    table = tmp_path / "table.toml"
    table.write_text("[rag]\ntop_k = 4\n", encoding="utf-8")
    write_threshold(table, 0.3)
    assert load_config(table).min_confidence == 0.3 and load_config(table).top_k == 4
    fresh = tmp_path / "new.toml"
    write_threshold(fresh, 0.41)
    assert load_config(fresh).min_confidence == 0.41
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.toml", "rag.toml", "table.toml"]  # no temp files


def test_compare_shows_deltas_and_changed_questions(result) -> None:
    before = to_json(result)
    after = json.loads(json.dumps(before))
    flipped = after["questions"][0]
    flipped["answer"], flipped["em"], flipped["abstained"] = "something else", 0.0, False
    after["em"] = before["em"] - 0.1
    text = compare(before, after)
    assert f"{'em':<22}{before['em']:>9.3f}{after['em']:>9.3f}{-0.1:>+9.3f}" in text
    assert "1 question(s) changed" in text and flipped["id"] in text and "'something else'" in text
    assert "0 question(s) changed." in compare(before, before)


def test_floors(tmp_path: Path) -> None:
    floors = Floors("test", {"em": 0.5, "overall": 0.6})
    assert below_floors({"em": 0.5, "overall": 0.7}, floors) == []
    assert below_floors({"em": 0.49, "overall": 0.7}, floors) == ["em 0.490 is below its floor 0.500"]
    assert below_floors({"em": 0.6}, floors) == ["overall: not a metric of rag eval"]
    bad = tmp_path / "floors.json"
    bad.write_text('{"floors": {"em": "high"}}', encoding="utf-8")
    with pytest.raises(GoldFileError, match="floors"):
        load_floors(bad)


def test_cli_report_tune_floors_and_compare(subset: Path, tmp_path: Path, shared_models, capsys) -> None:
    config = tmp_path / "rag.toml"
    config.write_text("top_k = 5\n", encoding="utf-8")
    common = ["--corpus", str(SEEDS), "--index", str(tmp_path / "idx"), "--config", str(config)]
    code = cli.main(["eval", "--gold", str(subset), "--out", str(tmp_path / "a"), "--tune", *common])
    out = capsys.readouterr().out
    assert code == 0 and "best threshold on the dev part" in out and "test" in out
    assert (tmp_path / "a" / "report.md").is_file()
    tuned = load_config(config).min_confidence
    assert tuned in THRESHOLDS and f"best threshold on the dev part: {tuned:.2f}" in out
    assert load_config(config).top_k == 5
    high = tmp_path / "high.json"
    high.write_text('{"split": "test", "floors": {"em": 1.01}}', encoding="utf-8")
    assert cli.main(["eval", "--gold", str(subset), "--floors", str(high), "--json", *common]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n"] == 8  # the floors file's split: test only
    assert "below floor: em" in captured.err
    cli.main(["eval", "--gold", str(subset), "--out", str(tmp_path / "b"), *common])
    capsys.readouterr()
    assert cli.main(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "question(s) changed" in capsys.readouterr().out


def test_gold_file_covers_the_seeds() -> None:
    questions = load_gold(GOLD)
    documents = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.iterdir()}
    assert len(questions) >= 80
    unanswerable = [q for q in questions if not q.answerable]
    assert len(unanswerable) >= 15 and sum(q.kind == "near_miss" for q in unanswerable) > len(unanswerable) / 2
    assert {d for q in questions for d in q.doc_ids} == set(documents)  # every article is covered
    assert {q.split for q in questions} == {"dev", "test"}
    for split in ("dev", "test"):
        assert any(not q.answerable for q in questions if q.split == split)
    for q in questions:
        for doc_id in q.doc_ids:  # every listed document states one of the answers
            assert any(a in documents[doc_id] for a in q.answers), (q.id, doc_id)


def test_ci_gate_on_the_test_part(tmp_path: Path, shared_models, capsys) -> None:
    floors = load_floors(FLOORS)
    assert floors.split == "test"
    code = cli.main(["eval", "--gold", str(GOLD), "--floors", str(FLOORS), "--corpus", str(SEEDS),
                     "--index", str(tmp_path / "idx"), "-q"])
    err = capsys.readouterr().err
    assert code == 0, err


def test_eval_scores_exactly_what_ask_returns(seeds_pipeline) -> None:
    """Over the whole gold file, every answer and abstention `rag eval` scores is what
    `Pipeline.ask` returns at the configured threshold (the eval reads once at threshold 0 and
    applies the threshold after; ``decide`` is defined that way)."""
    result = run_eval(seeds_pipeline, GOLD)
    assert len(result.questions) == 98
    for scored in result.questions:
        asked = seeds_pipeline.ask(scored.gold.question)
        shown = scored.answer
        assert (shown.text, shown.abstained, shown.message) == (asked.text, asked.abstained, asked.message), scored.gold.id
        assert shown.confidence == pytest.approx(asked.confidence, abs=1e-9)
        assert [(c.doc_id, c.start, c.end) for c in shown.citations] == [(c.doc_id, c.start, c.end) for c in asked.citations]
        assert [a.text for a in shown.alternatives] == [a.text for a in asked.alternatives]
        assert shown.chosen_because == asked.chosen_because


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('"min_confidence" = 0.5  # quoted\ntop_k = 3\n', '"min_confidence" = 0.27  # quoted\ntop_k = 3\n'),
        ("rag.min_confidence = 0.5\ntop_k = 3\n", "rag.min_confidence = 0.27\ntop_k = 3\n"),
        ("top_k = 3\n\n[rag]\nretrieval = \"bm25\"\n",
         "top_k = 3\n\n[rag]\nretrieval = \"bm25\"\nmin_confidence = 0.27 # tuned by rag eval --tune\n"),
    ],
    ids=["quoted-key", "dotted-key", "new-key-in-rag-table"],
)
def test_write_threshold_sets_what_rag_reads_however_the_key_is_spelled(tmp_path: Path, before: str, after: str) -> None:
    """Issue 30, item 10: a quoted key got a duplicate (the file became invalid TOML), a dotted key a
    top-level line that [rag] overrode."""
    config = tmp_path / "rag.toml"
    config.write_text(before, encoding="utf-8")
    write_threshold(config, 0.27)
    assert config.read_text(encoding="utf-8") == after
    assert load_config(config).min_confidence == 0.27


def test_write_threshold_never_leaves_a_file_rag_cannot_read(tmp_path: Path) -> None:
    from rag.errors import ConfigError

    config = tmp_path / "rag.toml"
    broken = "top_k = 3\nmin_confidence = \n"
    config.write_text(broken, encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML.*set min_confidence = 0.27 by hand"):
        write_threshold(config, 0.27)
    assert config.read_text(encoding="utf-8") == broken  # as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rag.toml"]
