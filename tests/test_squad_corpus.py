"""SQuAD as a corpus folder: file names and layout, offsets that still hold, gold lines, overwrite rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.corpus import load_corpus
from rag.eval.bench.squad_corpus import (
    SquadCorpus,
    SquadCorpusError,
    build_squad_corpus,
    main,
)
from rag.eval.gold import load_gold

# The first 2 articles of the official dev-v1.1 file, shipped with the tests (tests/data/README.md).
from tests.helpers import P0, P1, P2, TINY

REAL_V11 = Path(__file__).resolve().parent / "data" / "squad-dev-v1.1-slice.json"

NAMES = ["000_cheonan_ship.txt", "001_caf_se_or_a_b_ber_story.txt"]


def gold_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_offsets_hold(squad: dict, built: SquadCorpus) -> None:
    """Every first answer, shifted by its paragraph's place in the file, slices the text rag loads."""
    texts = {d.doc_id: d.text for d in load_corpus(built.folder)}
    gold = {g["id"]: g for g in gold_lines(built.gold)}
    checked = 0
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                if qa["id"] not in gold or qa.get("is_impossible"):
                    continue
                (doc_id,) = gold[qa["id"]]["doc_ids"]
                text, answer = texts[doc_id], qa["answers"][0]
                start = text.index(paragraph["context"]) + answer["answer_start"]
                assert text[start : start + len(answer["text"])] == answer["text"]
                checked += 1
    assert checked == sum(g["kind"] == "answerable" for g in gold.values())


def test_files_are_named_and_laid_out(tiny: Path, tmp_path: Path) -> None:
    built = build_squad_corpus(tiny, tmp_path / "out")
    assert built == SquadCorpus(tmp_path / "out" / "corpus", tmp_path / "out" / "gold.jsonl", 2, 5, 2)
    assert sorted(p.name for p in built.folder.iterdir()) == NAMES
    assert (built.folder / NAMES[0]).read_bytes().decode("utf-8") == f"Cheonan_(ship)\n\n{P0}\n\n{P1}"
    assert (built.folder / NAMES[1]).read_text(encoding="utf-8") == f"Café Señor: A/B (Über) Story!\n\n{P2}"
    assert_offsets_hold(TINY, built)


def test_gold_lines_follow_the_contract_in_file_order(tiny: Path, tmp_path: Path) -> None:
    built = build_squad_corpus(tiny, tmp_path / "out")
    lines = gold_lines(built.gold)
    assert [g["id"] for g in lines] == ["q1", "q2", "q3", "q4", "q5"]
    assert lines[0] == {"id": "q1", "question": "When did the Cheonan sink?", "answers": ["2010", "in 2010"],
                        "doc_ids": [NAMES[0]], "kind": "answerable", "article": "Cheonan_(ship)"}
    assert lines[1] == {"id": "q2", "question": "Who built the Cheonan?", "answers": [], "doc_ids": [],
                        "kind": "unanswerable", "article": "Cheonan_(ship)"}
    assert [g["doc_ids"] for g in lines[2:]] == [[NAMES[0]], [NAMES[1]], []]
    # The file loads through the eval runner's own reader of the contract.
    assert [(q.id, q.answerable) for q in load_gold(built.gold)] == [(g["id"], bool(g["answers"])) for g in lines]


def test_limit_keeps_first_questions_and_every_article(tiny: Path, tmp_path: Path) -> None:
    built = build_squad_corpus(tiny, tmp_path / "out", limit=2)
    assert (built.articles, built.questions, built.unanswerable) == (2, 2, 1)
    assert [g["id"] for g in gold_lines(built.gold)] == ["q1", "q2"]
    assert sorted(p.name for p in built.folder.iterdir()) == NAMES


def test_an_offset_that_misses_its_answer_is_refused(tmp_path: Path) -> None:
    broken = json.loads(json.dumps(TINY))
    broken["data"][0]["paragraphs"][1]["qas"][0]["answers"][0]["answer_start"] = 38
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(SquadCorpusError, match="1 answer offsets miss .* q3"):
        build_squad_corpus(path, tmp_path / "out")
    assert not (tmp_path / "out" / "gold.jsonl").exists()


def test_refuses_a_non_empty_folder(tiny: Path, tmp_path: Path) -> None:
    (tmp_path / "out" / "corpus").mkdir(parents=True)
    (tmp_path / "out" / "corpus" / "notes.md").write_text("mine", encoding="utf-8")
    with pytest.raises(SquadCorpusError, match="--overwrite"):
        build_squad_corpus(tiny, tmp_path / "out")
    assert not (tmp_path / "out" / "gold.jsonl").exists()


def test_overwrite_removes_stale_articles_only(tiny: Path, tmp_path: Path) -> None:
    folder = tmp_path / "out" / "corpus"
    folder.mkdir(parents=True)
    (folder / "007_old_article.txt").write_text("from an earlier, bigger file", encoding="utf-8")
    (folder / NAMES[0]).write_text("stale text", encoding="utf-8")
    (folder / "notes.md").write_text("mine", encoding="utf-8")
    built = build_squad_corpus(tiny, tmp_path / "out", overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == [*NAMES, "notes.md"]
    assert (folder / "notes.md").read_text(encoding="utf-8") == "mine"
    assert (folder / NAMES[0]).read_text(encoding="utf-8").startswith("Cheonan_(ship)\n\n")
    assert_offsets_hold(TINY, built)


def test_cli_reports_a_missing_file_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(tmp_path / "nope.json"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("squad_corpus: ") and err.count("\n") == 1 and "nope.json" in err


def test_cli_rejects_json_that_is_not_squad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"rows": []}', encoding="utf-8")
    assert main(["--data", str(path), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("squad_corpus: ")


def test_cli_prints_summary_and_next_commands(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(tiny), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 articles, 5 questions (2 unanswerable)")
    assert f"rag index --corpus {tmp_path / 'out' / 'corpus'}" in out and "rag eval --gold" in out


def test_real_squad_dev_v11(tmp_path: Path) -> None:
    built = build_squad_corpus(REAL_V11, tmp_path / "squad", limit=50)
    assert (built.articles, built.questions, built.unanswerable) == (2, 50, 0)
    assert len(list(built.folder.glob("*.txt"))) == 2
    assert len(gold_lines(built.gold)) == 50
    assert_offsets_hold(json.loads(REAL_V11.read_text(encoding="utf-8")), built)
