"""The `rag` command and its --json contract, with the real models."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag import cli
from tests.helpers import CORE_QUESTIONS, SEEDS, first_segment


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _assert_user_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[-1].startswith("rag: ") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[-1]


def test_ask_json_contract(tmp_path: Path, shared_models, capsys) -> None:
    code, out, _ = _run(["ask", "Which warship was sunk by a North Korean torpedo in 2010?", "--corpus", str(SEEDS),
                         "--index", str(tmp_path / "idx"), "--json"], capsys)
    assert code == 0
    data = json.loads(out)  # exactly one JSON object on stdout
    assert isinstance(data["question"], str) and isinstance(data["abstained"], bool)
    assert isinstance(data["confidence"], float) and 0 <= data["confidence"] <= 1
    assert data["answer"] == "Cheonan" and data["abstained"] is False
    assert data["answer"] == data["citations"][0]["quote"]
    for c in data["citations"]:
        text = (SEEDS / c["doc_id"]).read_text(encoding="utf-8")
        assert text[c["start"] : c["end"]] == c["quote"]
        assert isinstance(c["start"], int) and isinstance(c["end"], int)


def test_ask_json_abstention(tmp_path: Path, shared_models, capsys) -> None:
    code, out, _ = _run(["ask", "What is the capital of France?", "--corpus", str(SEEDS), "--index", str(tmp_path / "idx"), "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["answer"] is None and data["abstained"] is True and data["citations"] == []
    assert data["passages"], "the closest passages are shown"


def test_a_decline_reads_as_two_sentences_in_the_terminal(tmp_path: Path, shared_models, capsys) -> None:
    """The confidence goes with "The documents don't say", and the passages follow their lead-in."""
    code, out, _ = _run(["ask", "What is the capital of France?", "--corpus", str(SEEDS), "--index", str(tmp_path / "idx")], capsys)
    lines = out.splitlines()
    assert code == 0
    assert re.fullmatch(r"The documents don't say \(confidence 0\.\d\d\)\.", lines[0]), lines[0]
    assert lines[1] == "These passages came closest:"
    assert lines[2].startswith("  [1] ") and ": (confidence" not in out


def test_ask_prints_answer_and_sources(tmp_path: Path, shared_models, capsys) -> None:
    code, out, err = _run(["ask", "How many sailors were killed in the sinking of the Cheonan?", "--corpus", str(SEEDS),
                           "--index", str(tmp_path / "idx")], capsys)
    assert code == 0
    assert out.splitlines()[0].startswith("46 ")
    assert "[1] 000_d8589817e4af2ab0.txt" in out and "«46»" in out
    assert "rag: indexed" in err and "indexed" not in out  # progress on stderr, results on stdout


def test_quiet_hides_progress_and_unreadable_files_are_named(tmp_path: Path, shared_models, capsys) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    (corpus / "broken.txt").write_bytes(b"\xff\xfe not utf-8")
    code, out, err = _run(["index", "--corpus", str(corpus), "--index", str(tmp_path / "idx"), "-q"], capsys)
    assert code == 0 and out == ""
    assert err.strip().splitlines() == ["rag: skipping broken.txt: not valid UTF-8 text"]


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_exits_2(tmp_path: Path, shared_models, capsys, question: str) -> None:
    code, out, err = _run(["ask", question, "--corpus", str(SEEDS), "--index", str(tmp_path / "idx")], capsys)
    _assert_user_error(code, err, "empty")
    assert out == ""


def test_missing_corpus_exits_2(tmp_path: Path, shared_models, capsys) -> None:
    code, _, err = _run(["ask", "Who?", "--corpus", str(tmp_path / "nope"), "--index", str(tmp_path / "idx")], capsys)
    _assert_user_error(code, err, "does not exist")


def test_empty_corpus_exits_2(tmp_path: Path, shared_models, capsys) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = _run(["index", "--corpus", str(tmp_path / "empty"), "--index", str(tmp_path / "idx")], capsys)
    _assert_user_error(code, err, "no readable")


def test_refuses_a_folder_that_is_not_an_index(tmp_path: Path, shared_models, capsys) -> None:
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("keep me", encoding="utf-8")
    code, _, err = _run(["index", "--corpus", str(SEEDS), "--index", str(precious)], capsys)
    _assert_user_error(code, err, "not a rag index")
    assert [p.name for p in precious.iterdir()] == ["chapter1.tex"]
    assert (precious / "chapter1.tex").read_text(encoding="utf-8") == "keep me"


def test_corrupt_index_says_how_to_fix_and_rebuild_fixes_it(tmp_path: Path, shared_models, capsys) -> None:
    index = tmp_path / "idx"
    assert _run(["index", "--corpus", str(SEEDS), "--index", str(index)], capsys)[0] == 0
    build = index / (index / "CURRENT").read_text(encoding="utf-8").strip()
    (first_segment(build) / "dense.faiss").write_bytes(b"not a faiss index")
    code, _, err = _run(["ask", "Who?", "--corpus", str(SEEDS), "--index", str(index)], capsys)
    _assert_user_error(code, err, "damaged", "--rebuild")
    assert _run(["index", "--rebuild", "--corpus", str(SEEDS), "--index", str(index)], capsys)[0] == 0
    assert _run(["ask", "Who?", "--corpus", str(SEEDS), "--index", str(index), "--json"], capsys)[0] == 0


def test_index_built_with_other_settings_is_refused(tmp_path: Path, shared_models, capsys) -> None:
    index = tmp_path / "idx"
    assert _run(["index", "--corpus", str(SEEDS), "--index", str(index)], capsys)[0] == 0
    other = tmp_path / "other.toml"
    other.write_text("chunk_chars = 300\nchunk_overlap = 60\n", encoding="utf-8")  # not the defaults
    code, _, err = _run(["ask", "Who?", "--corpus", str(SEEDS), "--index", str(index), "--config", str(other)], capsys)
    _assert_user_error(code, err, "was built with", "rag index --rebuild")


def test_config_file_and_flags(tmp_path: Path, shared_models, capsys) -> None:
    config = tmp_path / "rag.toml"
    config.write_text(f'corpus_dir = "{SEEDS}"\nindex_dir = "{tmp_path / "idx"}"\ntop_k = 2\n', encoding="utf-8")
    code, out, _ = _run(["ask", "Where did the ministers meet?", "--config", str(config), "--json"], capsys)
    assert code == 0 and len(json.loads(out)["passages"]) == 2  # the file overrides the default 5
    code, out, _ = _run(["ask", "Where did the ministers meet?", "--config", str(config), "--top-k", "3", "--json"], capsys)
    assert code == 0 and len(json.loads(out)["passages"]) == 3  # the flag overrides the file
    config.write_text("top_k = 'many'\n", encoding="utf-8")
    code, _, err = _run(["ask", "Where?", "--config", str(config)], capsys)
    _assert_user_error(code, err, "top_k")


def test_index_json_reports_changes(tmp_path: Path, seeds_copy: Path, shared_models, capsys) -> None:
    args = ["index", "--corpus", str(seeds_copy), "--index", str(tmp_path / "idx"), "--json"]
    code, out, _ = _run(args, capsys)
    assert code == 0 and len(json.loads(out)["added"]) == 5
    (seeds_copy / "002_a2c4fb132dadb332.txt").write_text("Changed text about Seoul.", encoding="utf-8")
    code, out, _ = _run(args, capsys)
    report = json.loads(out)
    assert report["changed"] == ["002_a2c4fb132dadb332.txt"] and report["passages_embedded"] == 1


def test_eval_json_contract(tmp_path: Path, shared_models, capsys) -> None:
    code, out, _ = _run(["eval", "--gold", str(CORE_QUESTIONS), "--corpus", str(SEEDS), "--index", str(tmp_path / "idx"), "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    gold_ids = [json.loads(line)["id"] for line in CORE_QUESTIONS.read_text(encoding="utf-8").splitlines()]
    assert data["n"] == len(gold_ids) == len(data["questions"])
    assert [q["id"] for q in data["questions"]] == gold_ids
    for key in ("em", "f1", "abstention_recall", "abstention_precision", "citation_accuracy", "overall"):
        assert 0.0 <= data[key] <= 1.0
    assert data["em"] >= 0.75 and data["abstention_recall"] >= 0.4
    for q in data["questions"]:
        assert {"answer", "abstained", "citations", "confidence", "question"} <= set(q)


@pytest.mark.parametrize("content, needle", [
    ('{"id": "x", "question": "Q?"}\n', "answers"),
    ("not json\n", "not JSON"),
    ("", "no questions"),
    ('{"id": "x", "question": "Q?", "answers": [], "doc_ids": []}\n{"id": "x", "question": "Q?", "answers": [], "doc_ids": []}\n', "twice"),
])
def test_bad_gold_file_exits_2(tmp_path: Path, shared_models, capsys, content: str, needle: str) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text(content, encoding="utf-8")
    code, _, err = _run(["eval", "--gold", str(gold), "--corpus", str(SEEDS), "--index", str(tmp_path / "idx")], capsys)
    _assert_user_error(code, err, needle)


def test_console_script_cold_start_with_defaults(tmp_path: Path) -> None:
    """The installed `rag` command, in a fresh process, with the default ./seeds and ./.rag-index."""
    shutil.copytree(SEEDS, tmp_path / "seeds")
    rag = Path(sys.executable).with_name("rag")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([str(rag), "ask", "Where did Ahn Gyu-back and Gen Nakatani meet?", "--json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["answer"] == "Seoul"
    assert (tmp_path / ".rag-index" / "CURRENT").is_file()
    version = subprocess.run([str(rag), "--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == "rag 0.1.0"
