"""Questions never re-read an unchanged corpus (issue 31, item 1): rag trusts a file whose size and
modification time are those it recorded when it last read it, like git and make; `--rehash` reads
every file again."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import rag.corpus
from rag import Config, Pipeline, cli
from rag.store.folder import IndexFolder
from tests.helpers import HashEmbedder

PAST = time.time() - 3600  # mtimes an hour ago: not "racy" (see rag/store/known.py)


def corpus_of(folder: Path, documents: int = 3) -> Path:
    folder.mkdir(parents=True)
    for i in range(documents):
        path = folder / f"d{i}.txt"
        path.write_text(f"Report {i}: the naval exercise number {i} was held in Busan in May.", encoding="utf-8")
        os.utime(path, (PAST, PAST))
    return folder


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the documents rag extracts from their files, in order."""
    seen: list[str] = []
    real = rag.corpus._document

    def counted(path: Path, doc_id: str, max_chars: int | None = None):
        seen.append(doc_id)
        return real(path, doc_id, max_chars)

    monkeypatch.setattr(rag.corpus, "_document", counted)
    return seen


def pipeline(tmp_path: Path, corpus: Path) -> Pipeline:
    """A new Pipeline each time: as a new `rag ask` process would start."""
    config = Config(corpus_dir=corpus, index_dir=tmp_path / "index", chunk_chars=150, chunk_overlap=40,
                    embed_model="fake-hash-embedder")
    return Pipeline(config, embedder=HashEmbedder())


def test_an_unchanged_file_is_not_read_again(tmp_path: Path, reads: list[str]) -> None:
    corpus = corpus_of(tmp_path / "corpus")
    pipeline(tmp_path, corpus).index()
    assert sorted(reads) == ["d0.txt", "d1.txt", "d2.txt"]
    reads.clear()
    qa = pipeline(tmp_path, corpus)
    assert qa.search("naval exercise", k=3) and qa.status().up_to_date
    assert reads == []  # neither the question nor the status read a file
    (corpus / "d1.txt").write_text("Report 1: the naval exercise was moved to Jeju.", encoding="utf-8")
    report = pipeline(tmp_path, corpus).index()
    assert reads == ["d1.txt"] and report.changed == ("d1.txt",)  # read once, now: it is racy, see below


def test_a_touched_file_with_the_same_content_updates_only_the_record(tmp_path: Path, reads: list[str]) -> None:
    corpus = corpus_of(tmp_path / "corpus")
    pipeline(tmp_path, corpus).index()
    build = IndexFolder(tmp_path / "index").current_build()
    os.utime(corpus / "d2.txt", (PAST + 60, PAST + 60))  # `touch`: same bytes, new mtime
    reads.clear()
    report = pipeline(tmp_path, corpus).index()
    assert reads == ["d2.txt"] and not report.wrote_index
    assert IndexFolder(tmp_path / "index").current_build() == build  # no new build
    reads.clear()
    pipeline(tmp_path, corpus).index()
    assert reads == []  # the record was updated


def test_a_same_size_edit_with_its_mtime_restored_is_caught_by_rehash(tmp_path: Path, capsys, shared_models,
                                                                       reads: list[str]) -> None:
    corpus = corpus_of(tmp_path / "corpus")
    args = ["index", "--corpus", str(corpus), "--index", str(tmp_path / "index")]
    assert cli.main(args) == 0
    path = corpus / "d0.txt"
    stat = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace("Busan", "Jinju"), encoding="utf-8")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and its old mtime: size + mtime are trusted
    capsys.readouterr()
    assert cli.main([*args, "--json"]) == 0 and '"changed": []' in capsys.readouterr().out
    assert cli.main([*args, "--json", "--rehash"]) == 0 and '"changed": ["d0.txt"]' in capsys.readouterr().out
    assert cli.main(["ask", "Where was the naval exercise number 0 held?", *args[1:]]) == 0
    assert "Jinju" in capsys.readouterr().out


def test_a_file_changed_just_as_it_was_read_is_read_again(tmp_path: Path, reads: list[str]) -> None:
    corpus = corpus_of(tmp_path / "corpus")
    (corpus / "d0.txt").write_text("Report 0: written this very second.", encoding="utf-8")  # mtime: now
    pipeline(tmp_path, corpus).index()
    reads.clear()
    pipeline(tmp_path, corpus).index()
    assert reads == ["d0.txt"]  # its mtime may not move if it changes again within the same tick


def test_a_rebuild_and_a_rehash_read_every_file(tmp_path: Path, reads: list[str]) -> None:
    corpus = corpus_of(tmp_path / "corpus")
    first = pipeline(tmp_path, corpus)
    first.index()
    passages = first.search("naval exercise", k=10)
    for kwargs in ({"rebuild": True}, {"rehash": True}):
        reads.clear()
        qa = pipeline(tmp_path, corpus)
        qa.index(**kwargs)
        assert sorted(reads) == ["d0.txt", "d1.txt", "d2.txt"]
        assert [h.chunk for h in qa.search("naval exercise", k=10)] == [h.chunk for h in passages]
