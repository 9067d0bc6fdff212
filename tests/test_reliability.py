"""Bad input and faults: each a clear message (or a sensible answer), nothing lost, nothing crashes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag import IndexBusyError, Pipeline, QuestionError, cli
from rag.config import Config
from rag.corpus import load_corpus
from rag.store.folder import LOCK, IndexFolder
from tests.helpers import SEEDS, first_segment


@pytest.mark.parametrize(
    "question",
    [
        "Where did Ahn Gyu-back\x00 and Gen Nakatani\x1b[0m meet?\x07",  # control characters
        "아안규백 장관과 나카타니 장관은 어디에서 만났습니까?",  # Korean
        "¿Dónde se reunieron los ministros?",
        "?!?...,;:",  # only punctuation
        "the of and a",  # only stop words
        "Seoul " * 300,  # long, under the limit
    ],
)
def test_odd_questions_get_an_answer_or_an_abstention(seeds_pipeline: Pipeline, question: str) -> None:
    answer = seeds_pipeline.ask(question)
    assert 0.0 <= answer.confidence <= 1.0
    assert answer.abstained or answer.citations[0].quote == answer.text
    assert "\x00" not in answer.question and "\x1b" not in answer.question


def test_control_characters_are_read_as_spaces(seeds_pipeline: Pipeline) -> None:
    answer = seeds_pipeline.ask("Where did Ahn Gyu-back\x00and Gen Nakatani\x1bmeet?")
    assert answer.question == "Where did Ahn Gyu-back and Gen Nakatani meet?" and answer.text == "Seoul"


@pytest.mark.parametrize("question", ["", "   \n\t", "\x00\x01\x02", "x" * 100_000])
def test_empty_or_oversized_questions_are_refused(seeds_pipeline: Pipeline, question: str, tmp_path: Path,
                                                   shared_models, capsys) -> None:
    with pytest.raises(QuestionError):
        seeds_pipeline.ask(question)
    code = cli.main(["ask", question, "--corpus", str(SEEDS), "--index", str(tmp_path / "idx"), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("rag: the question")


def test_bad_files_are_skipped_each_named_once(tmp_path: Path, caplog) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    (corpus / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR")
    (corpus / "nul.txt").write_bytes(b"text with a \x00 NUL byte")
    (corpus / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (corpus / "empty.md").write_text("", encoding="utf-8")
    (corpus / "big.txt").write_text("Large. " * 3000, encoding="utf-8")  # 21,000 bytes, over the lowered limit
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.7\n%%garbage")
    deep = corpus.joinpath(*[f"level{i}" for i in range(40)])
    deep.mkdir(parents=True)
    (deep / "deep.md").write_text("# Deep\n\nThe deep note is forty folders down.\n", encoding="utf-8")
    (corpus / "loop").symlink_to(corpus, target_is_directory=True)  # a symlink loop
    with caplog.at_level("WARNING", logger="rag.corpus"):
        documents = load_corpus(corpus, max_bytes=10_000)
    ids = {d.doc_id for d in documents}
    assert {p.name for p in SEEDS.iterdir()} < ids
    assert "/".join(f"level{i}" for i in range(40)) + "/deep.md" in ids
    assert not any(i.startswith("loop/") for i in ids)
    for name, reason in [("binary.txt", "UTF-8"), ("nul.txt", "binary"), ("latin1.txt", "UTF-8"), ("empty.md", "empty"),
                         ("big.txt", "over the 10,000-byte limit"), ("broken.pdf", "not a readable PDF")]:
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"skipping {name}:")]
        assert len(lines) == 1 and reason in lines[0], (name, lines)
    assert len(caplog.records) == 6


def test_a_file_that_vanishes_while_indexing_is_skipped(tmp_path: Path, monkeypatch, caplog) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    import rag.corpus

    real = rag.corpus._document

    def vanish(path: Path, doc_id: str, max_chars: int | None = None):
        if doc_id == "002_a2c4fb132dadb332.txt":
            path.unlink()  # gone between listing the folder and reading the file
        return real(path, doc_id, max_chars)

    monkeypatch.setattr(rag.corpus, "_document", vanish)
    with caplog.at_level("WARNING", logger="rag.corpus"):
        documents = load_corpus(corpus)
    assert "002_a2c4fb132dadb332.txt" not in {d.doc_id for d in documents} and len(documents) == 4
    assert "skipping 002_a2c4fb132dadb332.txt: cannot read it" in caplog.text


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path: Path, shared_models, capsys) -> None:
    index = tmp_path / "idx"
    assert cli.main(["index", "--corpus", str(SEEDS), "--index", str(index), "-q"]) == 0
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    (corpus / "new.md").write_text("A new note about the Black Eagles.\n", encoding="utf-8")
    with IndexFolder(index).exclusive():  # another `rag index` is writing
        assert "pid" in (index / LOCK).read_text(encoding="utf-8")
        code = cli.main(["index", "--corpus", str(corpus), "--index", str(index), "-q"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "is being updated by rag (pid" in err[0] and "rag index" in err[0]
        with pytest.raises(IndexBusyError):
            Pipeline(Config(corpus_dir=corpus, index_dir=index)).index()
    assert cli.main(["index", "--corpus", str(corpus), "--index", str(index), "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["added"] == ["new.md"]


@pytest.mark.e2e  # a real `rag index` process, killed mid-write
def test_kill_9_during_rag_index_leaves_the_previous_index_and_a_rerun_completes(tmp_path: Path, embedder, reader) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    corpus, index = tmp_path / "corpus", tmp_path / "idx"
    shutil.copytree(SEEDS, corpus)
    run = [sys.executable, "-m", "rag", "index", "--corpus", str(corpus), "--index", str(index), "-q"]
    # The builds before and after the kill run in-process (the same Pipeline.index() the CLI calls), with the
    # session's models: only the run that is killed needs a process of its own.
    Pipeline(Config(corpus_dir=corpus, index_dir=index), embedder=embedder, reader=reader).index()
    pointer_before = (index / "CURRENT").read_text(encoding="utf-8")
    for n in range(150):  # enough new text that embedding takes a while
        (corpus / f"note{n:03d}.txt").write_text(f"Note {n}. " + "The harbour ferry leaves at nine. " * 40, encoding="utf-8")
    process = subprocess.Popen(run, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (index / LOCK).read_text(encoding="utf-8").strip():  # the writer holds the lock: it is building
        assert process.poll() is None and time.monotonic() < deadline, "rag index ended before it could be killed"
        time.sleep(0.05)
    time.sleep(1.0)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert (index / "CURRENT").read_text(encoding="utf-8") == pointer_before
    # The old index still loads (asked over the old corpus, so nothing needs re-indexing).
    old = Pipeline(Config(corpus_dir=SEEDS, index_dir=index, auto_update=False), embedder=embedder, reader=reader)
    assert old.ask("Where did Ahn Gyu-back and Gen Nakatani meet?").text == "Seoul"
    rerun = Pipeline(Config(corpus_dir=corpus, index_dir=index), embedder=embedder, reader=reader)
    rerun.index()  # the lock died with the killed process
    status = rerun.status()
    assert status.up_to_date and status.documents == 155
    assert len(list(index.glob("build-*"))) == 1  # the killed run's half-written build was cleaned up


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _break_faiss(build: Path) -> None:
    path = first_segment(build) / "dense.faiss"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit_manifest(build: Path) -> None:
    (build / "manifest.json").write_text('{"format_version": 2, "embed_model": ', encoding="utf-8")


def _other_embedder(build: Path) -> None:
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    manifest["embed_model"] = "some/other-model"
    (build / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def _missing_passages(build: Path) -> None:
    (first_segment(build) / "texts.bin").unlink()


def _newer_format(build: Path) -> None:
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    manifest["format_version"] = 99
    (build / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize("damage", [_break_faiss, _edit_manifest, _other_embedder, _missing_passages, _newer_format])
def test_a_bad_index_is_one_line_naming_the_fix_and_is_left_alone(tmp_path: Path, shared_models, capsys, damage) -> None:
    index = tmp_path / "idx"
    common = ["--corpus", str(SEEDS), "--index", str(index)]
    assert cli.main(["index", "-q", *common]) == 0
    damage(index / (index / "CURRENT").read_text(encoding="utf-8").strip())
    before = _snapshot(index)
    capsys.readouterr()
    for command in (["ask", "Where did they meet?"], ["index"], ["search", "Seoul"], ["status"]):
        code = cli.main([*command, "-q", *common])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "rag index --rebuild" in err[0], (command, err)
    assert _snapshot(index) == before  # nothing overwritten, nothing rebuilt
    assert cli.main(["index", "--rebuild", "-q", *common]) == 0  # ...until asked
    assert cli.main(["ask", "Where did Ahn Gyu-back and Gen Nakatani meet?", "-q", *common]) == 0
