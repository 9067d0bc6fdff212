"""Answers always quote files as they are now (issue 31, item 2): a long-running pipeline sees the
corpus change; `rag serve` updates its index in the background and answers from a document added
to the corpus folder while it runs; no answer cites characters of a file's old text."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rag import Config, Pipeline
from rag.watch import CorpusWatcher

QUESTION = "Where was the naval exercise held?"
OLD = "The naval exercise was held in Seoul in May, the ministry said."
NEW = "After a long delay, the naval exercise was finally held in the port city of Busan in June."


def corpus_of(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "exercise.txt").write_text(OLD, encoding="utf-8")
    (folder / "budget.txt").write_text("The ministry spoke about the budget for new ships.", encoding="utf-8")
    return folder


def assert_quotes_the_file(answer, corpus: Path) -> None:
    for c in answer.citations:
        assert (corpus / c.doc_id).read_text(encoding="utf-8")[c.start:c.end] == c.quote


def test_a_long_running_pipeline_answers_from_the_file_as_it_is_now(tmp_path: Path, embedder, reader) -> None:
    corpus = corpus_of(tmp_path / "corpus")
    qa = Pipeline(Config(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder=embedder, reader=reader)
    assert qa.ask(QUESTION).text == "Seoul"
    (corpus / "exercise.txt").write_text(NEW, encoding="utf-8")  # edited while the pipeline lives
    answer = qa.ask(QUESTION)
    assert answer.text and "Busan" in answer.text
    assert_quotes_the_file(answer, corpus)


def test_while_the_watcher_updates_no_answer_quotes_the_old_text(tmp_path: Path, embedder, reader) -> None:
    corpus = corpus_of(tmp_path / "corpus")
    qa = Pipeline(Config(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder=embedder, reader=reader)
    assert qa.ask(QUESTION).text == "Seoul"
    watcher = CorpusWatcher(qa, interval=3600).start()  # only a question that meets a change wakes it
    try:
        (corpus / "exercise.txt").write_text(NEW, encoding="utf-8")
        meanwhile = qa.ask(QUESTION)  # from the current build, without the changed file's passages
        assert all(c.doc_id != "exercise.txt" for c in meanwhile.citations)
        assert all(h.chunk.doc_id != "exercise.txt" for h in meanwhile.passages)
        deadline = time.monotonic() + 60
        while not (notice := watcher.take_notice()):
            assert time.monotonic() < deadline, "the watcher did not update the index"
            time.sleep(0.1)
        assert notice == "index updated: 1 document changed" and watcher.take_notice() is None  # said once
        answer = qa.ask(QUESTION)
        assert answer.text and "Busan" in answer.text
        assert_quotes_the_file(answer, corpus)
        (corpus / "notes.txt").write_text("The ministry named Captain Oh the exercise's commander.", encoding="utf-8")
        assert watcher.check_now() and watcher.take_notice() == "index updated: 1 document changed"
        assert not watcher.check_now()  # nothing changed since
    finally:
        watcher.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.e2e  # a real `rag serve` process
def test_serve_answers_from_files_added_and_edited_while_it_runs(tmp_path: Path) -> None:
    from gradio_client import Client

    corpus = corpus_of(tmp_path / "corpus")
    (tmp_path / "rag.toml").write_text("watch_seconds = 1\n", encoding="utf-8")
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "rag", "serve", "--corpus", str(corpus), "--index", str(tmp_path / "index"),
         "--config", str(tmp_path / "rag.toml"), "--port", str(port), "--no-browser"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.5)
        client = Client(url, verbose=False)
        assert client.predict(QUESTION, api_name="/ask")["answer"] == "Seoul"

        (corpus / "exercise.txt").write_text(NEW, encoding="utf-8")
        (corpus / "commander.txt").write_text("Captain Oh Se-hun commanded the naval exercise.", encoding="utf-8")
        changed_at = time.monotonic()
        answers = []
        while True:
            result = client.predict(QUESTION, api_name="/ask")
            for c in result["citations"]:  # every answer, at every moment, quotes the file as it is
                text = (corpus / c["doc_id"]).read_text(encoding="utf-8")
                assert text[c["start"]:c["end"]] == c["quote"], result
            answers.append(result["answer"])
            if result["answer"] and "Busan" in result["answer"]:
                break
            assert time.monotonic() - changed_at < 60, answers
            time.sleep(0.2)
        commander = client.predict("Who commanded the naval exercise?", api_name="/ask")
        assert commander["answer"] and "Oh Se-hun" in commander["answer"]
        assert "index updated: 2 documents changed" in (tmp_path / "serve.log").read_text()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
