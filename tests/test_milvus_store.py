"""The store interface against both stores: FAISS + BM25 files and Milvus (Lite, in-process).

The contract tests run once per store with the hashed embedder of test_store (instant,
deterministic, counts what it embeds). The pipeline tests use the real models on seeds/: in
dense-only mode both stores must retrieve the same passages and give the same answers; in hybrid
mode Milvus scores BM25 its own way, and the tolerance is stated where it is checked.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag import Pipeline
from rag.config import Config
from rag.errors import ConfigError, CorruptIndexError, NotAnIndexError, StaleIndexError
from rag.retriever import IndexRetriever
from rag.store import load_index, sync_index
from tests.helpers import (
    DOCS,
    REPO,
    SEEDS,
    HashEmbedder,
    document,
    interrupt_then_repair_a_milvus_update,
    make_config,
    paragraph,
)

# A real browser, Milvus, wheel build or training run: the README's test command runs it, the quick tier does not.
pytestmark = pytest.mark.e2e

STORES = ("faiss", "milvus")


def store_config(tmp_path: Path, store: str, **changes: object) -> Config:
    return make_config(tmp_path / f"index-{store}", store=store, **changes)


def search_all(index, question: str, embedder: HashEmbedder, mode: str) -> list[tuple[float, str, int]]:
    """Every passage with its score, best first, ties in passage order: the hashed embedder gives
    the near-identical sentences of these documents equal scores, and stores break ties differently."""
    hits = IndexRetriever(index, embedder, mode).retrieve(question, index.count())
    # to 3 places: the FAISS flat index keeps float16 vectors (cosines within ~2e-4), Milvus float32
    return sorted((-round(h.score, 3), h.chunk.doc_id, h.chunk.start) for h in hits)


@pytest.mark.parametrize("store", STORES)
def test_build_then_load_gives_the_same_passages(tmp_path: Path, store: str) -> None:
    config = store_config(tmp_path, store)
    built, report = sync_index(config, DOCS, HashEmbedder())
    assert report.added == tuple(d.doc_id for d in DOCS)
    loaded = load_index(config, "fake-hash-embedder")
    assert loaded is not None and loaded.count() == built.count() == built.manifest.passages > 3
    assert loaded.manifest.store["kind"] == store
    hits = loaded.dense_search(HashEmbedder().embed(["naval exercise"])[0], 3)
    assert loaded.passages([hits[0][0]])[0].doc_id == "notes/c.txt"
    for c in loaded.passages([pid for pid, _ in hits]):
        text = next(d.text for d in DOCS if d.doc_id == c.doc_id)
        assert text[c.start : c.end] == c.text


@pytest.mark.parametrize("store", STORES)
def test_updates_embed_only_what_changed_and_both_stores_agree(tmp_path: Path, store: str) -> None:
    config = store_config(tmp_path, store)
    embedder = HashEmbedder()
    sync_index(config, DOCS, embedder)
    embedder.embedded.clear()

    _, report = sync_index(config, DOCS, embedder)
    assert not report.wrote_index and embedder.embedded == []

    changed = document("b.md", paragraph("the submarine base"))
    added = document("d.txt", paragraph("the joint statement"))
    documents = [DOCS[0], changed, added]  # notes/c.txt deleted
    index, report = sync_index(config, documents, embedder)
    assert (report.added, report.changed, report.deleted) == (("d.txt",), ("b.md",), ("notes/c.txt",))
    assert all(("submarine" in t or "joint statement" in t) for t in embedder.embedded)

    fresh, _ = sync_index(make_config(tmp_path / "fresh"), documents, HashEmbedder())  # FAISS, from scratch
    assert index.count() == fresh.count()
    for question in ("submarine base", "joint statement", "defense ministers", "naval exercise"):
        assert search_all(index, question, embedder, "dense") == search_all(fresh, question, embedder, "dense")
        ids = [pid for pid, _ in index.dense_search(embedder.embed([question])[0], 10)]
        assert "notes/c.txt" not in {c.doc_id for c in index.passages(ids)}


@pytest.mark.parametrize("store", STORES)
def test_lexical_search_finds_the_passages_with_the_words(tmp_path: Path, store: str) -> None:
    index, _ = sync_index(store_config(tmp_path, store), DOCS, HashEmbedder())
    assert index.supports_lexical
    found = index.lexical_search("Yongsan garrison", 5)
    assert found and {c.doc_id for c in index.passages([pid for pid, _ in found])} == {"b.md"}
    ids = [pid for pid, _ in index.dense_search(HashEmbedder().embed(["naval exercise"])[0], 3)]
    scores = index.lexical_scores("Yongsan garrison", ids)
    assert all((s > 0) == (c.doc_id == "b.md") for s, c in zip(scores, index.passages(ids)))
    assert index.lexical_search("is it the", 5) == []  # stop words only


@pytest.mark.parametrize("store", STORES)
def test_manifest_checks_hold(tmp_path: Path, store: str) -> None:
    config = store_config(tmp_path, store)
    sync_index(config, DOCS, HashEmbedder())
    with pytest.raises(StaleIndexError, match="rag index --rebuild"):
        load_index(config, "another-embedder")
    with pytest.raises(StaleIndexError, match="chunks of 150/40"):
        load_index(dataclasses.replace(config, chunk_chars=300), "fake-hash-embedder")
    other = "faiss" if store == "milvus" else "milvus"
    with pytest.raises(StaleIndexError, match="keeps its passages in"):
        load_index(dataclasses.replace(config, store=other), "fake-hash-embedder")


def test_milvus_collection_another_index_wrote_is_refused_unless_rebuilding(tmp_path: Path) -> None:
    shared = str(tmp_path / "shared.db")
    first = make_config(tmp_path / "first", store="milvus", store_uri=shared)
    sync_index(first, DOCS, HashEmbedder())
    second = make_config(tmp_path / "second", store="milvus", store_uri=shared)
    with pytest.raises(NotAnIndexError, match="already holds .* passages .* did not write"):
        sync_index(second, DOCS[:1], HashEmbedder())
    index, _ = sync_index(second, DOCS[:1], HashEmbedder(), rebuild=True)
    assert {c.doc_id for c in index.passages([p for p, _ in index.lexical_search("defense ministers", 10)])} == {"a.txt"}


def test_milvus_collection_changed_behind_the_manifest_is_reported(tmp_path: Path) -> None:
    config = store_config(tmp_path, "milvus")
    index, _ = sync_index(config, DOCS, HashEmbedder())
    from rag.store.milvus_client import connect

    connect(config).delete(config.milvus_collection, filter='doc_id == "a.txt"')
    with pytest.raises(CorruptIndexError, match="holds .* passages, the manifest .* says"):
        load_index(config, "fake-hash-embedder")
    connect(config).drop_collection(config.milvus_collection)
    with pytest.raises(CorruptIndexError, match="is missing; rebuild it with: rag index --rebuild .* --store milvus"):
        load_index(config, "fake-hash-embedder")
    index, _ = sync_index(config, DOCS, HashEmbedder(), rebuild=True)
    assert index.count() == index.manifest.passages > 0


def test_interrupted_milvus_update_is_named_then_repaired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index, fresh = interrupt_then_repair_a_milvus_update(store_config(tmp_path, "milvus"), tmp_path / "fresh", monkeypatch)
    embedder = HashEmbedder()
    assert search_all(index, "submarine base", embedder, "dense") == search_all(fresh, "submarine base", embedder, "dense")


def test_store_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="store must be one of faiss, milvus"):
        Config(store="chroma")
    with pytest.raises(ConfigError, match="ending in .db or a server URI"):
        Config(store="milvus", store_uri="/tmp/passages.sqlite")
    with pytest.raises(ConfigError, match="milvus_collection"):
        Config(store="milvus", milvus_collection="rag passages; drop")
    assert Config(index_dir=Path("idx"), store="milvus").milvus_uri == str(Path("idx") / "milvus.db")


# --- The real pipeline on seeds/, both stores ----------------------------------------------------


@pytest.fixture(scope="module")
def seed_questions() -> list[str]:
    gold = [json.loads(line) for line in (REPO / "eval" / "gold.jsonl").read_text(encoding="utf-8").splitlines() if line]
    return [g["question"] for g in gold]


@pytest.fixture(scope="module")
def both_pipelines(tmp_path_factory: pytest.TempPathFactory, seeds_pipeline, embedder, reader) -> tuple[Pipeline, Pipeline]:
    """The session's FAISS pipeline over seeds/, and the same corpus indexed into Milvus Lite."""
    config = Config(corpus_dir=SEEDS, index_dir=tmp_path_factory.mktemp("stores") / "milvus", store="milvus")
    milvus_pipeline = Pipeline(config, embedder=embedder, reader=reader)
    milvus_pipeline.index()
    return seeds_pipeline, milvus_pipeline


def passages_of(hits) -> list[tuple[str, int, int]]:
    return [(h.chunk.doc_id, h.chunk.start, h.chunk.end) for h in hits]


# Hybrid: Milvus computes BM25 with its own analyzer and IDF, so the fused ranking may differ a
# little. Stated tolerance: on average at least 80% of the top-5 passages are the same, and at least
# 90% of the questions asked get the same answer text.
HYBRID_TOP5_OVERLAP = 0.80
HYBRID_SAME_ANSWERS = 0.90
ANSWERED = slice(0, None, 6)  # reading is the slow part: answers for every sixth gold question


def test_dense_only_retrieval_is_identical_and_hybrid_close_on_seeds(both_pipelines, seed_questions) -> None:
    faiss_pipeline, milvus_pipeline = both_pipelines
    overlaps = []
    for question in seed_questions:
        faiss_hits = faiss_pipeline.search(question, 5, retrieval="dense")
        milvus_hits = milvus_pipeline.search(question, 5, retrieval="dense")
        assert passages_of(milvus_hits) == passages_of(faiss_hits), question
        # FAISS keeps float16 vectors in a flat index, Milvus float32: cosines within ~2e-4
        np.testing.assert_allclose([h.dense_score for h in milvus_hits], [h.dense_score for h in faiss_hits], atol=5e-4)
        hybrid_faiss, hybrid_milvus = faiss_pipeline.search(question, 5), milvus_pipeline.search(question, 5)
        overlaps.append(len(set(passages_of(hybrid_faiss)) & set(passages_of(hybrid_milvus))) / 5)
        assert all(h.bm25_score >= 0 for h in hybrid_milvus)
        # Milvus's full-text search takes part wherever bm25s finds a word of the question.
        assert any(h.bm25_score > 0 for h in hybrid_milvus) == any(h.bm25_score > 0 for h in hybrid_faiss), question
    print(f"hybrid top-5 overlap {np.mean(overlaps):.3f}")
    assert np.mean(overlaps) >= HYBRID_TOP5_OVERLAP


def test_answers_are_identical_dense_and_close_hybrid_on_seeds(both_pipelines, seed_questions) -> None:
    faiss_pipeline, milvus_pipeline = both_pipelines
    asked = seed_questions[ANSWERED]
    same_hybrid = 0
    for question in asked:
        a = faiss_pipeline.ask(question, retrieval="dense")
        b = milvus_pipeline.ask(question, retrieval="dense")
        assert (b.text, b.abstained) == (a.text, a.abstained), question
        assert [(c.doc_id, c.start, c.end) for c in b.citations] == [(c.doc_id, c.start, c.end) for c in a.citations]
        a, b = faiss_pipeline.ask(question), milvus_pipeline.ask(question)
        same_hybrid += (a.text, a.abstained) == (b.text, b.abstained)
    print(f"hybrid: {same_hybrid}/{len(asked)} same answers")
    assert same_hybrid / len(asked) >= HYBRID_SAME_ANSWERS


def test_an_upload_is_added_to_milvus_without_a_rebuild(tmp_path: Path, embedder, reader) -> None:
    config = Config(corpus_dir=SEEDS, index_dir=tmp_path / "index", store="milvus")
    pipeline = Pipeline(config, embedder=embedder, reader=reader)
    first = pipeline.index()
    passages = pipeline._loaded_store().count()
    text = "The lighthouse keeper of Ulleungdo, Park Min-jae, retired in March 2026 after forty years.\n"
    report = pipeline.add_document("lighthouse.txt", text.encode())
    assert first.passages_embedded > 0 and report.added == ("uploads/lighthouse.txt",)
    assert report.passages_embedded == 1 and report.unchanged == 5
    assert pipeline._loaded_store().count() == passages + 1
    answer = pipeline.ask("Who was the lighthouse keeper of Ulleungdo?")
    assert answer.text == "Park Min-jae" and answer.citations[0].doc_id == "uploads/lighthouse.txt"


def rag(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "rag", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def milvus_server(tmp_path: Path):
    """A Milvus server on a local TCP port: milvus-lite's own gRPC server (`python -m milvus_lite
    server`), which speaks the protocol a Milvus server does. Not a Milvus cluster: that needs
    Docker or Kubernetes, which this machine does not have."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(tmp_path / "server-data"), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert server.poll() is None, server.stderr.read()
        time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=30)


def test_the_http_path_talks_to_a_milvus_server(tmp_path: Path, milvus_server: str) -> None:
    config = make_config(tmp_path / "index", store="milvus", store_uri=milvus_server)
    embedder = HashEmbedder()
    index, _ = sync_index(config, DOCS, embedder)
    assert not (tmp_path / "index" / "milvus.db").exists()  # the passages are in the server
    fresh, _ = sync_index(make_config(tmp_path / "fresh"), DOCS, HashEmbedder())
    assert index.count() == fresh.count()
    for question in ("Yongsan garrison", "naval exercise"):
        assert search_all(index, question, embedder, "dense") == search_all(fresh, question, embedder, "dense")
    assert {c.doc_id for c in index.passages([p for p, _ in index.lexical_search("Yongsan garrison", 5)])} == {"b.md"}

    changed = [DOCS[0], document("b.md", paragraph("the submarine base"))]
    index, report = sync_index(config, changed, embedder)
    assert (report.changed, report.deleted) == (("b.md",), ("notes/c.txt",))
    reopened = load_index(config, "fake-hash-embedder")  # a second client, as another replica would be
    assert reopened.count() == index.count() == sync_index(make_config(tmp_path / "fresh2"), changed, HashEmbedder())[0].count()


def test_an_unreachable_milvus_server_is_one_clear_error(tmp_path: Path) -> None:
    config = make_config(tmp_path / "index", store="milvus", store_uri=f"http://127.0.0.1:{free_port()}")
    from rag.errors import IndexFolderError

    started = time.monotonic()
    with pytest.raises(IndexFolderError, match="cannot open Milvus at http://127.0.0.1:"):
        sync_index(config, DOCS, HashEmbedder())
    assert time.monotonic() - started < 60


def test_a_lite_file_another_process_holds_is_one_clear_error(tmp_path: Path) -> None:
    uri = str(tmp_path / "held.db")
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from pymilvus import MilvusClient; MilvusClient(uri={uri!r}); print('open', flush=True); input()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    from rag.errors import IndexFolderError

    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(IndexFolderError) as refused:
            sync_index(make_config(tmp_path / "idx", store="milvus", store_uri=uri), DOCS, HashEmbedder())
        [line] = str(refused.value).splitlines()  # one line: the CLI prints it after "rag: ", exit 2
        assert line.startswith(f"cannot open Milvus at {uri}: ")
        assert line.endswith("Milvus Lite lets one process open a file at a time: if rag serve or another rag command "
                             'is using it, stop it, or use a Milvus server (store_uri = "http://host:19530")')
    finally:
        holder.communicate("\n", timeout=60)


def test_eval_status_and_serve_run_on_milvus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rag eval`, `status` and `serve` take the store flags; the server answers from the Milvus
    collection; without the flags rag refuses, naming them."""
    index = tmp_path / "idx"
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "g1", "question": "Where did Ahn Gyu-back and Gen Nakatani meet?",
                                "answers": ["Seoul"], "doc_ids": ["000_d8589817e4af2ab0.txt"]}) + "\n", encoding="utf-8")
    evaluated = rag("eval", "--gold", str(gold), "--corpus", str(SEEDS), "--index", str(index), "--store", "milvus",
                    "--json", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["em"] == 1.0
    assert (index / "milvus.db").exists()

    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "rag", "serve", "--corpus", str(SEEDS), "--index", str(index), "--store", "milvus",
         "--port", str(port), "--no-browser"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)},
    )
    try:
        import urllib.request

        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.5)
        from gradio_client import Client

        result = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
            "Where did Ahn Gyu-back and Gen Nakatani meet?", api_name="/ask")
        assert result["answer"] == "Seoul" and result["citations"][0]["doc_id"].startswith("00")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()

    # In-process, after the server is gone (Milvus Lite lets one process at a time open the file):
    from rag import cli  # neither command loads a model

    assert cli.main(["status", "--corpus", str(SEEDS), "--index", str(index), "--store", "milvus", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["store"] == "milvus" and status["up_to_date"] is True
    assert cli.main(["ask", "Where did the two defense ministers meet?", "--corpus", str(SEEDS), "--index", str(index)]) == 2
    refused = capsys.readouterr().err
    assert "keeps its passages in Milvus" in refused and "--store milvus" in refused


def test_a_write_milvus_refuses_is_one_line_and_the_build_stays(tmp_path: Path, monkeypatch) -> None:
    """Issue 30, item 7: Milvus's own error while rag changes the collection (here: another client
    drops it just before; on a server, a full disk) was a raw MilvusException, exit 1."""
    from rag.errors import IndexFolderError
    from rag.store.folder import IndexFolder
    from rag.store.milvus_client import connect
    from rag.store.milvus_store import MilvusWriter

    config = store_config(tmp_path, "milvus")
    sync_index(config, DOCS, HashEmbedder())
    current = IndexFolder(config.index_dir).current_build()
    real_delete = MilvusWriter.delete

    def dropped_meanwhile(self: MilvusWriter, doc_ids) -> None:
        connect(config).drop_collection(config.milvus_collection)  # someone else, between load and write
        real_delete(self, doc_ids)

    changed = [*DOCS[:2], document("notes/c.txt", "The naval exercise was cancelled. Nobody said why.")]
    with monkeypatch.context() as patch:
        patch.setattr(MilvusWriter, "delete", dropped_meanwhile)
        with pytest.raises(IndexFolderError, match=r"cannot delete passages from the Milvus collection 'rag_passages': "
                                                   r".*; fix that and run rag index again"):
            sync_index(config, changed, HashEmbedder())
    assert IndexFolder(config.index_dir).current_build() == current and IndexFolder(config.index_dir).pending()
