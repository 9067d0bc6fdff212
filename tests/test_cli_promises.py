"""What the Python API promises holds from the command line too (issue 30, items 4-6): `rag ask` and
`rag search` answer from the current build while `rag index` updates it; `auto_update = false` means
`rag ask` and `rag serve` never write; `rag status` never calls a build that is being replaced damaged."""

from __future__ import annotations

import hashlib
import multiprocessing
from pathlib import Path

import pytest

from rag import Config, Pipeline, cli
from rag.store import sync_index
from rag.store.folder import IndexFolder
from tests.helpers import DOCS, HashEmbedder, make_config

QUESTION = "Where was the naval exercise held?"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a hash of its bytes: equal snapshots mean nothing was written."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def built(tmp_path: Path, embedder, reader) -> tuple[Path, Path]:
    """A corpus of two documents and its index, built with the real models."""
    corpus = tmp_path / "corpus"
    write(corpus / "a.txt", "The naval exercise was held in Busan in May, the ministry said.")
    write(corpus / "b.txt", "The ministry spoke about the budget for new ships.")
    Pipeline(Config(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder=embedder, reader=reader).index()
    return corpus, tmp_path / "index"


# 4. While `rag index` updates a changed corpus, ask and search answer from the current build.

@pytest.mark.parametrize("command", ["ask", "search"])
def test_ask_and_search_answer_while_the_index_is_being_updated(built, capsys, shared_models, command: str) -> None:
    corpus, index = built
    write(corpus / "c.txt", "A new document about the Yongsan garrison.")  # the corpus changed
    with IndexFolder(index).exclusive():  # as `rag index` holds it while it embeds the change
        code = cli.main([command, QUESTION, "--corpus", str(corpus), "--index", str(index)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "is being updated by another process; answering from its current build" in err
    assert "Busan" in out and "c.txt" not in out


def test_rebuild_asked_for_while_the_index_is_being_updated_is_refused(built, capsys, shared_models) -> None:
    corpus, index = built
    with IndexFolder(index).exclusive():
        code = cli.main(["ask", QUESTION, "--rebuild", "--corpus", str(corpus), "--index", str(index)])
    assert code == 2 and "is being updated by rag" in capsys.readouterr().err


# 5. auto_update = false: nothing is ever written, from ask or serve.

def _no_auto_update(tmp_path: Path) -> Path:
    return write(tmp_path / "replica.toml", "auto_update = false\n")


def test_ask_without_auto_update_writes_nothing(built, tmp_path: Path, capsys, shared_models) -> None:
    corpus, index = built
    before = snapshot(index)
    args = ["--config", str(_no_auto_update(tmp_path)), "--corpus", str(corpus), "--index", str(index)]
    assert cli.main(["ask", QUESTION, *args]) == 0 and "Busan" in capsys.readouterr().out
    write(corpus / "c.txt", "A new document about the Yongsan garrison.")
    code = cli.main(["ask", QUESTION, *args])
    err = capsys.readouterr().err
    assert code == 2 and "out of date" in err and "run: rag index" in err
    assert snapshot(index) == before  # CURRENT, manifest, builds: as they were


def test_serve_without_auto_update_writes_nothing(built, tmp_path: Path, capsys, monkeypatch, embedder, reader) -> None:
    from rag.ui import app as app_module
    from rag.ui import server

    launched: list[Pipeline] = []

    class NotServed:  # the chat itself is tested in test_web.py; here only what serve writes first
        def queue(self, **_: object) -> None:
            pass

        def launch(self, **_: object) -> None:
            pass

    def build_app(pipeline: Pipeline, watcher: object = None) -> NotServed:
        launched.append(pipeline)
        return NotServed()

    monkeypatch.setattr(server, "Pipeline", lambda config: Pipeline(config, embedder=embedder, reader=reader))
    monkeypatch.setattr(app_module, "build_app", build_app)
    corpus, index = built
    write(corpus / "c.txt", "A new document about the Yongsan garrison.")
    before = snapshot(index)
    args = ["serve", "--no-browser", "--config", str(_no_auto_update(tmp_path)), "--corpus", str(corpus), "--index", str(index)]
    code = cli.main(args)
    assert code == 2 and "out of date" in capsys.readouterr().err and not launched
    (corpus / "c.txt").unlink()
    assert cli.main(args) == 0 and len(launched) == 1
    assert snapshot(index) == before


# 6. `rag status` while another process keeps replacing the build: the old build or the new, never damaged.

def _keep_updating(index_dir: str, rounds: int) -> None:
    config = make_config(Path(index_dir), embed_model="fake-hash-embedder")
    for i in range(rounds):
        sync_index(config, DOCS if i % 2 else DOCS[:2], HashEmbedder())


def test_status_never_reports_damage_while_another_process_updates(tmp_path: Path, capsys) -> None:
    config = make_config(tmp_path / "index", embed_model="fake-hash-embedder")
    corpus = tmp_path / "corpus"
    for document in DOCS:
        write(corpus / document.doc_id, document.text)
    sync_index(config, DOCS, HashEmbedder())
    toml = write(tmp_path / "rag.toml", 'embed_model = "fake-hash-embedder"\nchunk_chars = 150\nchunk_overlap = 40\n')
    writer = multiprocessing.get_context("spawn").Process(target=_keep_updating, args=(str(config.index_dir), 60))
    writer.start()
    runs = 0
    try:
        while writer.is_alive() or runs < 30:
            code = cli.main(["status", "--json", "--config", str(toml), "--corpus", str(corpus), "--index", str(config.index_dir)])
            out, err = capsys.readouterr()
            assert code == 0, err
            assert '"built": true' in out
            runs += 1
    finally:
        writer.join(timeout=120)
    assert writer.exitcode == 0 and runs >= 30
