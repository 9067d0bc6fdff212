"""Shared setup: the real embedder and reader load once per test run and are shared by pipelines."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

# Tests run offline like users do: a model that is not on this machine must fail at once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag import Config, Document, Pipeline
from rag.corpus import load_corpus
from rag.embedder import Embedder, make_embedder
from rag.reader import ExtractiveReader
from tests.helpers import CORE_QUESTIONS, SEEDS, TINY


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The default embedder (ONNX Runtime, exported into ~/.cache/rag on the first run)."""
    model = make_embedder(Config())
    _ = model.dimension  # load now, once
    return model


@pytest.fixture(scope="session")
def reader() -> ExtractiveReader:
    model = ExtractiveReader(Config())
    _ = model.backend  # load now, once (the default backend, as users run it)
    return model


@pytest.fixture(scope="session")
def seeds_pipeline(tmp_path_factory: pytest.TempPathFactory, embedder, reader) -> Pipeline:
    """A pipeline over the repo's seeds/, indexed once into a temporary folder."""
    config = Config(corpus_dir=SEEDS, index_dir=tmp_path_factory.mktemp("seeds-index"))
    pipeline = Pipeline(config, embedder=embedder, reader=reader)
    pipeline.index()
    return pipeline


@pytest.fixture(scope="session")
def seeds_documents() -> dict[str, Document]:
    return {d.doc_id: d for d in load_corpus(SEEDS)}


@pytest.fixture(scope="session")
def core_questions() -> list[dict]:
    return [json.loads(line) for line in CORE_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture
def seeds_copy(tmp_path: Path) -> Path:
    """A writable copy of seeds/ for tests that change the corpus."""
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
def shared_models(monkeypatch: pytest.MonkeyPatch, embedder, reader) -> None:
    """Let each CLI call reuse the session's loaded models instead of loading its own."""
    from rag import cli

    monkeypatch.setattr(cli, "Pipeline", lambda config: Pipeline(config, embedder=embedder, reader=reader))


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _cli_log_handler_of_this_test_only():
    """`rag.cli.main` logs to the sys.stderr of its call, which pytest closes after the test: drop
    that handler then, so a later test's log lines do not hit a closed stream."""
    yield
    import logging

    log = logging.getLogger("rag")
    for handler in [h for h in log.handlers if getattr(h, "_rag_cli", False)]:
        log.removeHandler(handler)
