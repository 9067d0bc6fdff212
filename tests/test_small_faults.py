"""The smaller faults of issue 30, item 11: settings the models cannot run, an index at the root of
the file system, long and look-alike upload names, first builds started together, -q with a long
embedding. Each was a traceback or a wrong message."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from rag import Config, ConfigError, CorpusError, Pipeline, cli
from rag.store import load_index, sync_index
from rag.store.folder import MARKER, IndexFolder
from rag.uploads import UploadExistsError
from tests.helpers import DOCS, HashEmbedder, make_config


def corpus_of(folder: Path, documents: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(documents):
        (folder / f"d{i:03}.txt").write_text(
            f"Report {i}: the naval exercise number {i} was held in Busan in May, said officer {i * 37 % 101}.",
            encoding="utf-8")
    return folder


@pytest.mark.parametrize(("length", "stride", "message"), [
    (2048, 128, "reader_max_length must be at most 512 tokens, the reader's max_position_embeddings"),
    (8, 4, "reader_max_length must be at least 72 tokens"),
    (150, 128, "reader_max_length must be at least 196 tokens"),
])
def test_reader_windows_the_model_cannot_read_are_a_config_error(tmp_path: Path, embedder, length: int,
                                                                  stride: int, message: str) -> None:
    config = Config(corpus_dir=corpus_of(tmp_path / "corpus"), index_dir=tmp_path / "index", chunk_chars=4000,
                    chunk_overlap=100, reader_max_length=length, reader_stride=stride)
    with pytest.raises(ConfigError, match=message):
        Pipeline(config, embedder=embedder).ask("Where was the naval exercise held?")


@pytest.mark.parametrize("command", ["index", "status", "ask"])
def test_an_index_at_the_root_of_the_file_system_is_one_line(tmp_path: Path, capsys, command: str) -> None:
    corpus = corpus_of(tmp_path / "corpus")
    args = [command] + (["Where?"] if command == "ask" else []) + ["--corpus", str(corpus), "--index", "/"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "the index folder cannot be the root of a file system (/)" in err and "Traceback" not in err


def _qa(tmp_path: Path) -> Pipeline:
    config = Config(corpus_dir=corpus_of(tmp_path / "corpus"), index_dir=tmp_path / "index",
                    chunk_chars=150, chunk_overlap=40)
    qa = Pipeline(config, embedder=HashEmbedder())
    qa.index()
    return qa


def test_upload_names_up_to_255_bytes_are_saved(tmp_path: Path) -> None:
    qa = _qa(tmp_path)
    for name in ("a" * 251 + ".txt", "é" * 125 + ".md"):  # 255 and 253 bytes
        report = qa.add_document(name, b"An upload about the Yongsan garrison.")
        assert report.added == ("uploads/" + name,)
    with pytest.raises(CorpusError, match="longer than 255 bytes"):
        qa.add_document("a" * 252 + ".txt", b"One byte too long.")
    assert len(qa.uploads()) == 2 and not list(qa.config.uploads_folder.glob(".*"))


def test_upload_names_in_two_unicode_forms_are_one_upload(tmp_path: Path) -> None:
    qa = _qa(tmp_path)
    qa.add_document("cafe\u0301.txt", b"The first version, typed on a Mac (decomposed).")  # NFD
    with pytest.raises(UploadExistsError):
        qa.add_document("caf\u00e9.txt", b"The second, typed elsewhere (composed).", replace=False)
    qa.add_document("caf\u00e9.txt", b"The second, typed elsewhere (composed).")
    assert qa.uploads() == ["uploads/caf\u00e9.txt"]
    assert qa.document("uploads/caf\u00e9.txt").text.startswith("The second")


def test_a_folder_being_claimed_by_another_rag_is_not_foreign(tmp_path: Path) -> None:
    index = tmp_path / "index"
    index.mkdir()
    (index / f".{MARKER}.k3j9x2ab.tmp").write_text("{", encoding="utf-8")  # another rag, mid-claim
    IndexFolder(index).refuse_foreign()
    (index / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(Exception, match="is not empty and is not a rag index"):
        IndexFolder(index).refuse_foreign()


def _first_build(index_dir: str, results: multiprocessing.Queue) -> None:
    try:
        sync_index(make_config(Path(index_dir), embed_model="fake-hash-embedder"), DOCS, HashEmbedder())
        results.put("built")
    except Exception as err:
        results.put(f"{type(err).__name__}: {err}")


def test_first_builds_started_together_build_once_or_wait(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    for round_ in range(3):
        index = tmp_path / f"index{round_}"
        results = context.Queue()
        workers = [context.Process(target=_first_build, args=(str(index), results)) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        outcomes = [results.get(timeout=5) for _ in workers]
        assert "built" in outcomes, outcomes
        assert all(o == "built" or "is being updated by rag" in o for o in outcomes), outcomes
        store = load_index(make_config(index, embed_model="fake-hash-embedder"), "fake-hash-embedder")
        assert store is not None and store.count() > 0


def test_quiet_hides_the_progress_bar_of_a_long_embedding(tmp_path: Path, shared_models, capsys) -> None:
    corpus = corpus_of(tmp_path / "corpus", documents=70)  # 70 passages: a progress bar without -q
    base = ["index", "--corpus", str(corpus), "--index", str(tmp_path / "index")]
    assert cli.main([*base, "-q"]) == 0
    assert capsys.readouterr().err == ""
    (corpus / "extra").mkdir()
    corpus_of(corpus / "extra", documents=70)
    assert cli.main(base) == 0
    assert "Embedding" in capsys.readouterr().err
