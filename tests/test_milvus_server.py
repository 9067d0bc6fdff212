"""The store against a real standalone Milvus server: the C++ binary of Milvus 2.3 that the `milvus`
package starts from Python, gRPC on a loopback port (started once per test run, ~7 s; its time ticks made faster for the tests).

Milvus 2.3 has no full-text search, so this is exactly the server path where rag falls back to
dense-only retrieval; Milvus Lite (tests/test_milvus_store.py) covers BM25 in Milvus.
"""

from __future__ import annotations

import dataclasses
import socket
import uuid
from pathlib import Path

import milvus  # the test extra installs it (pyproject.toml): a real server, never skipped
import numpy as np
import pytest

from rag import Config, Pipeline
from rag.errors import CorruptIndexError, StaleIndexError
from rag.retriever import IndexRetriever
from rag.store import load_index, sync_index
from tests.helpers import (
    DOCS,
    SEEDS,
    HashEmbedder,
    document,
    interrupt_then_repair_a_milvus_update,
    make_config,
    paragraph,
)

# A real browser, Milvus, wheel build or training run: the README's test command runs it, the quick tier does not.
pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _faster_ticks(template: str) -> str:
    changes = {"timeTickInterval: 200 ": "timeTickInterval: 50 ", "  checkInterval: 1000": "  checkInterval: 200",
               "  distPullInterval: 500": "  distPullInterval: 100"}
    for old, new in changes.items():
        assert template.count(old) == 1, f"the milvus package's config template changed: no {old!r}"
        template = template.replace(old, new)
    return template


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> str:
    server = milvus.default_server
    # Ticks 4x as often as the shipped config: a query at Strong consistency waits for the next time tick,
    # so each one takes ~0.1 s instead of ~0.35 s (and loading a collection is polled more often too).
    server.config.template_text = _faster_ticks(server.config.template_text)
    server.set_base_dir(str(tmp_path_factory.mktemp("milvus-server")))
    server.listen_port = _free_port()
    server.start()
    yield f"http://127.0.0.1:{server.listen_port}"
    server.stop()


def server_config(tmp_path: Path, uri: str, **changes: object) -> Config:
    """An index folder of its own and a collection of its own on the shared server."""
    return make_config(tmp_path / "index", store="milvus", store_uri=uri,
                       milvus_collection=f"t{uuid.uuid4().hex[:12]}", **changes)


def ranked(store, question: str, embedder: HashEmbedder, mode: str) -> list[tuple[float, str, int]]:
    hits = IndexRetriever(store, embedder, mode).retrieve(question, store.count())
    # to 3 places: the FAISS flat index keeps float16 vectors (cosines within ~2e-4), Milvus float32
    return sorted((-round(h.score, 3), h.chunk.doc_id, h.chunk.start) for h in hits)


def test_the_contract_holds_and_updates_embed_only_what_changed(tmp_path: Path, milvus_server: str) -> None:
    config = server_config(tmp_path, milvus_server)
    embedder = HashEmbedder()
    built, report = sync_index(config, DOCS, embedder)
    assert report.added == tuple(d.doc_id for d in DOCS) and not (tmp_path / "index" / "milvus.db").exists()
    loaded = load_index(config, embedder.name)
    assert loaded.count() == built.count() == built.manifest.passages > 3
    assert loaded.manifest.store == {"kind": "milvus", "uri": milvus_server, "collection": config.milvus_collection,
                                     "bm25": False}
    for c in loaded.passages([pid for pid, _ in loaded.dense_search(embedder.embed(["naval exercise"])[0], 5)]):
        assert next(d.text for d in DOCS if d.doc_id == c.doc_id)[c.start : c.end] == c.text
    # Milvus 2.3 has no full-text search: no lexical results, and every mode retrieves densely.
    assert not loaded.supports_lexical and loaded.lexical_search("Yongsan garrison", 5) == []
    for mode in ("hybrid", "bm25"):
        assert ranked(loaded, "Yongsan garrison", embedder, mode) == ranked(loaded, "Yongsan garrison", embedder, "dense")
    with pytest.raises(StaleIndexError, match="rag index --rebuild"):
        load_index(config, "another-embedder")
    with pytest.raises(StaleIndexError, match="keeps its passages in"):
        load_index(dataclasses.replace(config, store="faiss", store_uri=""), embedder.name)

    # An update embeds only what changed, and dense retrieval is then identical to FAISS's from scratch
    # (one collection for both halves: each new collection costs a Milvus 2.3 server about 4 s).
    embedder.embedded.clear()
    changed = [DOCS[0], document("b.md", paragraph("the submarine base")), document("d.txt", paragraph("the joint statement"))]
    store, report = sync_index(config, changed, embedder)
    assert (report.added, report.changed, report.deleted) == (("d.txt",), ("b.md",), ("notes/c.txt",))
    assert all("submarine" in t or "joint statement" in t for t in embedder.embedded)
    fresh, _ = sync_index(make_config(tmp_path / "faiss"), changed, HashEmbedder())
    assert store.count() == fresh.count()
    for question in ("submarine base", "joint statement", "defense ministers", "naval exercise"):
        assert ranked(store, question, embedder, "dense") == ranked(fresh, question, embedder, "dense")


def test_seeds_dense_search_is_the_same_as_faiss_with_the_real_embedder(
    tmp_path: Path, milvus_server: str, seeds_pipeline: Pipeline, embedder, reader
) -> None:
    config = Config(corpus_dir=SEEDS, index_dir=tmp_path / "index", store="milvus", store_uri=milvus_server,
                    milvus_collection=f"t{uuid.uuid4().hex[:12]}")
    server_pipeline = Pipeline(config, embedder=embedder, reader=reader)
    server_pipeline.index()
    for question in ("Where did the two defense ministers meet?", "How many sailors died on the Cheonan?",
                     "When did South Korea and Japan normalize relations?"):
        faiss_hits = seeds_pipeline.search(question, 5, retrieval="dense")
        server_hits = server_pipeline.search(question, 5, retrieval="dense")
        assert [(h.chunk.doc_id, h.chunk.start) for h in server_hits] == [(h.chunk.doc_id, h.chunk.start) for h in faiss_hits]
        np.testing.assert_allclose([h.dense_score for h in server_hits], [h.dense_score for h in faiss_hits], atol=5e-4)  # float16 in FAISS
    # The default retrieval uses BM25, which this server lacks: rag answers by dense search instead,
    # as the FAISS index does in dense mode.
    answer = server_pipeline.ask("Where did the two defense ministers meet?")
    assert answer.text == seeds_pipeline.ask("Where did the two defense ministers meet?", retrieval="dense").text


def test_faults_on_a_real_server(tmp_path: Path, milvus_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.store.milvus_client import connect

    config = server_config(tmp_path, milvus_server)
    interrupt_then_repair_a_milvus_update(config, tmp_path / "faiss", monkeypatch)
    connect(config).delete(config.milvus_collection, filter='doc_id == "a.txt"')
    with pytest.raises(CorruptIndexError, match="holds .* passages, the manifest .* says"):
        load_index(config, "fake-hash-embedder")
    connect(config).drop_collection(config.milvus_collection)
    with pytest.raises(CorruptIndexError, match="is missing; rebuild it with: rag index --rebuild"):
        load_index(config, "fake-hash-embedder")
