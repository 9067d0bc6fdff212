"""The index folder: build, load, incremental sync, refusals, damage and interrupted builds.

A hashed bag-of-words embedder stands in for the real one: it is deterministic, instant, and
counts what it embeds, so the tests can tell which passages a sync re-embedded.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from rag.config import Config
from rag.embedder import Embedder
from rag.errors import (
    CorruptIndexError,
    IndexFolderError,
    NotAnIndexError,
    StaleIndexError,
)
from rag.index import DenseIndex
from rag.lexical import Postings
from rag.retriever import IndexRetriever
from rag.store import FaissStore, UpdateReport, load_index, sync_index
from rag.store.folder import MANIFEST, MARKER, POINTER
from rag.types import Chunk, Document
from tests.helpers import DOCS, HashEmbedder, document, first_segment, make_config, paragraph


def builds(index_dir: Path) -> list[Path]:
    return sorted(p for p in index_dir.glob("build-*"))


def current_build(index_dir: Path) -> Path:
    return index_dir / (index_dir / POINTER).read_text(encoding="utf-8").strip()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def by_passage(store: FaissStore, question: str) -> dict[tuple[str, int], tuple[Chunk, float]]:
    """Each passage, keyed by (document, chunk index), with its BM25 score for the question: what an
    index holds, whatever order its segments put the passages in."""
    ids = store.live_ids()
    return {(c.doc_id, c.chunk_index): (c, round(score, 4))
            for c, score in zip(store.passages(ids), store.lexical_scores(question, ids), strict=True)}


def vectors_by_passage(store: FaissStore) -> npt.NDArray[np.float32]:
    chunks = store.chunks  # read once: the property reads every passage
    order = sorted(range(len(chunks)), key=lambda i: (chunks[i].doc_id, chunks[i].chunk_index))
    return store.vectors()[order]


def assert_same_index(actual: FaissStore, expected: FaissStore) -> None:
    assert actual.manifest.documents == expected.manifest.documents
    assert actual.manifest.passages == len(actual.chunks) == len(actual.vectors()) == actual.count()
    for question in ("Yongsan garrison", "naval exercise", "ministers"):
        assert by_passage(actual, question) == by_passage(expected, question)
    # float16 in a flat index: a vector rewritten by a merge may differ in its last bit
    np.testing.assert_allclose(vectors_by_passage(actual), vectors_by_passage(expected), atol=1e-3, rtol=0)


def fresh_build(tmp_path: Path, documents: list[Document]) -> FaissStore:
    index, _ = sync_index(make_config(tmp_path / "fresh"), documents, HashEmbedder())
    return index


@pytest.fixture
def built(tmp_path: Path) -> tuple[Config, HashEmbedder, FaissStore]:
    """An index of DOCS, built once; the embedder's count is reset afterwards."""
    config = make_config(tmp_path / "index")
    embedder = HashEmbedder()
    index, _ = sync_index(config, DOCS, embedder)
    embedder.embedded.clear()
    return config, embedder, index


def test_fake_embedder_gives_deterministic_unit_vectors() -> None:
    embedder: Embedder = HashEmbedder()  # type checkers verify the protocol here

    first = embedder.embed(["Seoul and Tokyo.", "!!!", "Seoul and Tokyo."])

    assert first.shape == (3, 64) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(first[0], first[2])
    np.testing.assert_array_equal(first, HashEmbedder().embed(["Seoul and Tokyo.", "!!!", "Seoul and Tokyo."]))


@pytest.mark.parametrize("existing", ["missing", "empty"])
def test_build_into_missing_or_empty_folder(tmp_path: Path, existing: str) -> None:
    index_dir = tmp_path / "deep" / "index"
    if existing == "empty":
        index_dir.mkdir(parents=True)
    config = make_config(index_dir)
    embedder = HashEmbedder()

    index, report = sync_index(config, DOCS, embedder)

    assert (index_dir / MARKER).is_file()
    assert (current_build(index_dir) / MANIFEST).is_file()
    assert report.added == ("a.txt", "b.md", "notes/c.txt")
    assert (report.changed, report.deleted, report.unchanged) == ((), (), 0)
    assert report.wrote_index
    assert report.passages_embedded == len(index.chunks) == len(embedder.embedded)
    assert embedder.embedded == [c.text for c in index.chunks]
    assert {c.doc_id for c in index.chunks} == {"a.txt", "b.md", "notes/c.txt"}
    docs = {d.doc_id: d for d in DOCS}
    for c in index.chunks:
        assert docs[c.doc_id].text[c.start : c.end] == c.text
    assert index.manifest.documents == {d.doc_id: d.content_hash for d in DOCS}
    assert (index.manifest.embed_model, index.manifest.embed_dim) == ("fake-hash-embedder", 64)
    assert (index.manifest.chunk_chars, index.manifest.chunk_overlap) == (150, 40)
    assert len(builds(index_dir)) == 1


def test_passages_follow_document_order(built: tuple[Config, HashEmbedder, FaissStore]) -> None:
    _config, _embedder, index = built

    keys = [(c.doc_id, c.chunk_index) for c in index.chunks]
    assert keys == sorted(keys)
    assert len(index.chunks) > len(DOCS), "small chunks: several passages per document"


def test_load_gives_the_same_passages(built: tuple[Config, HashEmbedder, FaissStore]) -> None:
    config, embedder, index = built

    loaded = load_index(config, embedder.name)

    assert loaded is not None
    assert_same_index(loaded, index)
    assert loaded.manifest == index.manifest
    assert embedder.embedded == []


def test_manifest_is_sorted_json_saying_what_built_it(built: tuple[Config, HashEmbedder, FaissStore]) -> None:
    config, _embedder, index = built

    text = (current_build(config.index_dir) / MANIFEST).read_text(encoding="utf-8")

    raw = json.loads(text)
    assert list(raw) == sorted(raw)
    assert raw["embed_model"] == "fake-hash-embedder"
    assert raw["documents"] == {d.doc_id: d.content_hash for d in DOCS}
    assert raw["passages"] == len(index.chunks)


def test_load_of_missing_or_empty_folder_is_none(tmp_path: Path) -> None:
    assert load_index(make_config(tmp_path / "missing"), "fake-hash-embedder") is None
    (tmp_path / "empty").mkdir()
    assert load_index(make_config(tmp_path / "empty"), "fake-hash-embedder") is None


def test_second_sync_with_same_documents_embeds_nothing(built: tuple[Config, HashEmbedder, FaissStore]) -> None:
    config, embedder, index = built
    before = snapshot(config.index_dir)

    again, report = sync_index(config, DOCS, embedder)

    assert embedder.embedded == []
    assert report == UpdateReport(unchanged=3)
    assert report.wrote_index is False
    assert_same_index(again, index)
    assert snapshot(config.index_dir) == before


def test_adding_a_document_embeds_only_its_passages(tmp_path: Path, built: tuple[Config, HashEmbedder, FaissStore]) -> None:
    config, embedder, _index = built
    new = document("b2.txt", paragraph("a brand new topic", n=4))
    documents = [DOCS[0], DOCS[1], new, DOCS[2]]

    index, report = sync_index(config, documents, embedder)

    new_passages = [c.text for c in index.chunks if c.doc_id == "b2.txt"]
    assert embedder.embedded == new_passages
    assert (report.added, report.changed, report.deleted, report.unchanged) == (("b2.txt",), (), (), 3)
    assert report.passages_embedded == len(new_passages)
    assert report.wrote_index
    reference = fresh_build(tmp_path, documents)
    assert_same_index(index, reference)
    assert_same_index(load_index(config, embedder.name), reference)  # type: ignore[arg-type]


def test_changing_a_document_embeds_only_its_passages(tmp_path: Path, built: tuple[Config, HashEmbedder, FaissStore]) -> None:
    config, embedder, _index = built
    changed = document("b.md", paragraph("the Yongsan garrison") + " One more sentence was added at the end.")
    documents = [DOCS[0], changed, DOCS[2]]

    index, report = sync_index(config, documents, embedder)

    assert embedder.embedded == [c.text for c in index.chunks if c.doc_id == "b.md"]
    assert (report.added, report.changed, report.deleted, report.unchanged) == ((), ("b.md",), (), 2)
    assert any("One more sentence" in c.text for c in index.chunks)
    reference = fresh_build(tmp_path, documents)
    assert_same_index(index, reference)
    assert_same_index(load_index(config, embedder.name), reference)  # type: ignore[arg-type]


def test_deleting_a_document_drops_it_and_embeds_nothing(tmp_path: Path, built: tuple[Config, HashEmbedder, FaissStore]) -> None:
    config, embedder, _index = built
    documents = [DOCS[0], DOCS[2]]

    index, report = sync_index(config, documents, embedder)

    assert embedder.embedded == []
    assert (report.added, report.changed, report.deleted, report.unchanged) == ((), (), ("b.md",), 2)
    assert report.passages_embedded == 0
    assert report.wrote_index
    assert "b.md" not in {c.doc_id for c in index.chunks}
    assert "Yongsan" not in " ".join(c.text for c in index.chunks)
    assert index.lexical_search("Yongsan", 5) == []
    reference = fresh_build(tmp_path, documents)
    assert_same_index(index, reference)
    assert_same_index(load_index(config, embedder.name), reference)  # type: ignore[arg-type]


def test_add_change_and_delete_in_one_sync(tmp_path: Path, built: tuple[Config, HashEmbedder, FaissStore]) -> None:
    config, embedder, _index = built
    documents = [document("a.txt", paragraph("the defense ministers", n=2)), DOCS[2], document("z.txt", "Brand new. Short.")]

    index, report = sync_index(config, documents, embedder)

    assert sorted(embedder.embedded) == sorted(c.text for c in index.chunks if c.doc_id in {"a.txt", "z.txt"})
    assert (report.added, report.changed, report.deleted, report.unchanged) == (("z.txt",), ("a.txt",), ("b.md",), 1)
    assert_same_index(index, fresh_build(tmp_path, documents))


def test_only_one_build_folder_remains_after_each_sync(built: tuple[Config, HashEmbedder, FaissStore]) -> None:
    config, embedder, _index = built
    first = builds(config.index_dir)

    sync_index(config, DOCS[:2], embedder)
    second = builds(config.index_dir)
    sync_index(config, DOCS, embedder)
    third = builds(config.index_dir)

    assert len(first) == len(second) == len(third) == 1
    assert first != second != third
    assert third == [current_build(config.index_dir)]
    assert not list(config.index_dir.glob("*.tmp"))


def test_folder_that_is_not_an_index_is_refused_and_left_untouched(tmp_path: Path) -> None:
    index_dir = tmp_path / "my-documents"
    index_dir.mkdir()
    (index_dir / "thesis.txt").write_text("Years of work.", encoding="utf-8")
    (index_dir / "sub").mkdir()
    (index_dir / "sub" / "data.csv").write_text("a,b\n", encoding="utf-8")
    before = snapshot(index_dir)
    embedder = HashEmbedder()

    for rebuild in (False, True):
        with pytest.raises(NotAnIndexError) as excinfo:
            sync_index(make_config(index_dir), DOCS, embedder, rebuild=rebuild)
        assert str(index_dir) in str(excinfo.value)

    with pytest.raises(NotAnIndexError):
        load_index(make_config(index_dir), embedder.name)
    assert snapshot(index_dir) == before
    assert sorted(p.name for p in index_dir.iterdir()) == ["sub", "thesis.txt"]
    assert embedder.embedded == []


def test_index_path_that_is_a_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "index"
    path.write_text("not a folder", encoding="utf-8")

    with pytest.raises(NotAnIndexError, match="is a file"):
        sync_index(make_config(path), DOCS, HashEmbedder())
    with pytest.raises(NotAnIndexError):
        load_index(make_config(path), "fake-hash-embedder")
    assert path.read_text(encoding="utf-8") == "not a folder"


@pytest.mark.parametrize(
    ("embedder_name", "changes"),
    [
        pytest.param("another-embedder", {}, id="other-embedder"),
        pytest.param("fake-hash-embedder", {"chunk_chars": 200}, id="other-chunk-chars"),
        pytest.param("fake-hash-embedder", {"chunk_overlap": 10}, id="other-chunk-overlap"),
        pytest.param("fake-hash-embedder", {"dense_index": "hnsw"}, id="other-dense-index"),
    ],
)
def test_index_built_with_other_settings_is_stale(
    built: tuple[Config, HashEmbedder, FaissStore], embedder_name: str, changes: dict[str, object]
) -> None:
    config, _embedder, _index = built
    config = dataclasses.replace(config, **changes)
    embedder = HashEmbedder(name=embedder_name)
    before = snapshot(config.index_dir)

    with pytest.raises(StaleIndexError) as excinfo:
        sync_index(config, DOCS, embedder)

    assert "rag index --rebuild" in str(excinfo.value)
    assert embedder.embedded == []
    assert snapshot(config.index_dir) == before

    index, report = sync_index(config, DOCS, embedder, rebuild=True)

    assert index.manifest.embed_model == embedder_name
    assert (index.manifest.chunk_chars, index.manifest.chunk_overlap) == (config.chunk_chars, config.chunk_overlap)
    assert index.manifest.dense_index == index.dense_kind == config.dense_index
    assert report.passages_embedded == len(index.chunks) == len(embedder.embedded)
    assert_same_index(load_index(config, embedder_name), index)  # type: ignore[arg-type]
    assert len(builds(config.index_dir)) == 1


def test_index_of_another_format_version_is_stale(built: tuple[Config, HashEmbedder, FaissStore]) -> None:
    config, embedder, _index = built
    manifest = current_build(config.index_dir) / MANIFEST
    raw = json.loads(manifest.read_text(encoding="utf-8"))
    manifest.write_text(json.dumps({**raw, "format_version": 99}), encoding="utf-8")

    with pytest.raises(StaleIndexError, match="99") as excinfo:
        sync_index(config, DOCS, embedder)
    assert "rag index --rebuild" in str(excinfo.value), f"the message does not say how to recover: {excinfo.value}"
    sync_index(config, DOCS, embedder, rebuild=True)
    assert load_index(config, embedder.name) is not None


def truncate_dense(build: Path, index_dir: Path) -> None:
    path = first_segment(build) / "dense.faiss"
    path.write_bytes(path.read_bytes()[:100])


def garbage_manifest(build: Path, index_dir: Path) -> None:
    (build / MANIFEST).write_bytes(b"\x00{not json")


def manifest_not_an_object(build: Path, index_dir: Path) -> None:
    (build / MANIFEST).write_text("[1, 2, 3]\n", encoding="utf-8")


def manifest_missing_a_field(build: Path, index_dir: Path) -> None:
    raw = json.loads((build / MANIFEST).read_text(encoding="utf-8"))
    del raw["documents"]
    (build / MANIFEST).write_text(json.dumps(raw), encoding="utf-8")


def manifest_with_wrong_passage_count(build: Path, index_dir: Path) -> None:
    raw = json.loads((build / MANIFEST).read_text(encoding="utf-8"))
    (build / MANIFEST).write_text(json.dumps({**raw, "passages": raw["passages"] + 1}), encoding="utf-8")


def delete_passages(build: Path, index_dir: Path) -> None:
    (first_segment(build) / "texts.bin").unlink()


def drop_last_passage(build: Path, index_dir: Path) -> None:
    path = first_segment(build) / "texts.bin"
    path.write_bytes(path.read_bytes()[:-20])


def garbage_passage_table(build: Path, index_dir: Path) -> None:
    (first_segment(build) / "passages.npy").write_bytes(b"\x93NUMPY{broken")


def delete_segment(build: Path, index_dir: Path) -> None:
    shutil.rmtree(first_segment(build))


def garbage_segment_list(build: Path, index_dir: Path) -> None:
    (build / "segments.json").write_text('[{"segment": "../elsewhere", "rows": 1, "deleted": []}]', encoding="utf-8")


def delete_bm25(build: Path, index_dir: Path) -> None:
    for path in sorted((first_segment(build) / "bm25").iterdir()):
        path.unlink()


def dense_of_another_kind(build: Path, index_dir: Path) -> None:
    # Same vectors, but an HNSW file where the manifest says flat.
    path = first_segment(build) / "dense.faiss"
    DenseIndex.build(DenseIndex.load(path).vectors(), kind="hnsw").save(path)


def dangling_pointer(build: Path, index_dir: Path) -> None:
    (index_dir / POINTER).write_text("build-19700101T000000-00000000\n", encoding="utf-8")


@pytest.mark.parametrize(
    "damage",
    [
        truncate_dense,
        garbage_manifest,
        manifest_not_an_object,
        manifest_missing_a_field,
        manifest_with_wrong_passage_count,
        delete_passages,
        drop_last_passage,
        garbage_passage_table,
        delete_segment,
        garbage_segment_list,
        delete_bm25,
        dense_of_another_kind,
        dangling_pointer,
    ],
)
def test_damaged_index_is_corrupt_and_rebuild_recovers(
    built: tuple[Config, HashEmbedder, FaissStore], damage: Callable[[Path, Path], None]
) -> None:
    config, embedder, index = built
    damage(current_build(config.index_dir), config.index_dir)

    with pytest.raises(IndexFolderError) as excinfo:
        load_index(config, embedder.name)
    assert isinstance(excinfo.value, CorruptIndexError), f"{type(excinfo.value).__name__}: {excinfo.value}"
    with pytest.raises(CorruptIndexError) as excinfo:
        sync_index(config, DOCS, embedder)
    message = str(excinfo.value)
    assert str(config.index_dir) in message
    assert "rag index --rebuild" in message, f"the message does not say how to recover: {message!r}"
    assert embedder.embedded == []

    rebuilt, report = sync_index(config, DOCS, embedder, rebuild=True)

    # Against a fresh build: the store loaded before the damage reads its passages lazily, from the
    # files damaged in place (rag itself never writes into a segment once written).
    expected = fresh_build(config.index_dir.parent, DOCS)
    assert_same_index(rebuilt, expected)
    assert report.passages_embedded == len(expected.chunks) == index.count()
    assert_same_index(load_index(config, embedder.name), expected)  # type: ignore[arg-type]
    assert builds(config.index_dir) == [current_build(config.index_dir)]


def test_crash_while_embedding_leaves_previous_index_unchanged(built: tuple[Config, HashEmbedder, FaissStore]) -> None:
    config, _embedder, index = built
    before = snapshot(config.index_dir)
    changed = [document("a.txt", paragraph("a rewritten first document", n=8)), *DOCS[1:]]
    crashing = HashEmbedder(fail_after=2)

    with pytest.raises(RuntimeError, match="simulated crash"):
        sync_index(config, changed, crashing)

    assert len(crashing.embedded) == 2
    assert snapshot(config.index_dir) == before
    assert_same_index(load_index(config, crashing.name), index)  # type: ignore[arg-type]


def test_crash_while_writing_leaves_previous_index_loadable(
    built: tuple[Config, HashEmbedder, FaissStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, embedder, index = built
    changed = [*DOCS[:2], document("notes/c.txt", "The naval exercise was cancelled. Nobody said why.")]

    def crash(self: Postings, folder: Path) -> None:
        folder.mkdir()
        (folder / "terms.npy").write_text("{", encoding="utf-8")
        raise OSError("simulated crash: disk full")

    with monkeypatch.context() as patch:
        patch.setattr(Postings, "save", crash)
        with pytest.raises((OSError, IndexFolderError), match="disk full"):
            sync_index(config, changed, embedder)

    assert builds(config.index_dir) == [current_build(config.index_dir)]  # the half-written one is gone
    assert_same_index(load_index(config, embedder.name), index)  # type: ignore[arg-type]

    recovered, report = sync_index(config, changed, embedder)

    assert report.changed == ("notes/c.txt",)
    assert builds(config.index_dir) == [current_build(config.index_dir)]
    assert_same_index(recovered, fresh_build(config.index_dir.parent, changed))


def test_partial_build_folder_without_manifest_is_ignored_then_removed(
    built: tuple[Config, HashEmbedder, FaissStore],
) -> None:
    config, embedder, index = built
    partial = config.index_dir / "build-29991231T235959-deadbeef"
    partial.mkdir()
    (partial / "passages.jsonl").write_text('{"doc_id": "a.txt", "chunk_ind', encoding="utf-8")

    loaded = load_index(config, embedder.name)
    again, report = sync_index(config, DOCS, embedder)

    assert_same_index(loaded, index)  # type: ignore[arg-type]
    assert_same_index(again, index)
    assert report.wrote_index is False
    assert partial.is_dir()  # nothing was written, so nothing was cleaned up yet

    sync_index(config, DOCS[:2], embedder)

    assert not partial.exists()
    assert builds(config.index_dir) == [current_build(config.index_dir)]


def test_claimed_folder_without_a_finished_build_is_built(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    (index_dir / MARKER).write_text('{"format_version": 1}\n', encoding="utf-8")
    (index_dir / "build-20000101T000000-00000000").mkdir()
    embedder = HashEmbedder()

    assert load_index(make_config(index_dir), embedder.name) is None
    index, report = sync_index(make_config(index_dir), DOCS, embedder)

    assert report.added == ("a.txt", "b.md", "notes/c.txt")
    assert_same_index(index, fresh_build(tmp_path, DOCS))
    assert builds(index_dir) == [current_build(index_dir)]


def test_flat_index_opened_with_hnsw_is_stale_and_says_so(built: tuple[Config, HashEmbedder, FaissStore]) -> None:
    config, embedder, _index = built
    before = snapshot(config.index_dir)

    with pytest.raises(StaleIndexError) as excinfo:
        load_index(dataclasses.replace(config, dense_index="hnsw"), embedder.name)

    message = str(excinfo.value)
    assert "flat" in message and "hnsw" in message and "rag index --rebuild" in message
    assert snapshot(config.index_dir) == before


def test_hnsw_index_answers_searches_and_updates_incrementally(tmp_path: Path) -> None:
    config = make_config(tmp_path / "index", dense_index="hnsw")
    embedder = HashEmbedder()

    index, _ = sync_index(config, DOCS, embedder)

    assert (index.manifest.dense_index, index.dense_kind) == ("hnsw", "hnsw")
    loaded = load_index(config, embedder.name)
    assert loaded is not None and loaded.dense_kind == "hnsw"
    assert_same_index(loaded, index)
    for mode in ("dense", "hybrid"):
        hits = IndexRetriever(loaded, embedder, mode).retrieve("Yongsan garrison", 3)
        assert hits[0].chunk.doc_id == "b.md"
        assert hits[0].dense_score == pytest.approx(float(embedder.embed(["Yongsan garrison"])[0] @ embedder.embed([hits[0].chunk.text])[0]), abs=1e-5)

    embedder.embedded.clear()
    extra = document("d.txt", paragraph("the coast guard", n=2))
    updated, report = sync_index(config, [*DOCS, extra], embedder)

    assert embedder.embedded == [c.text for c in updated.chunks if c.doc_id == "d.txt"]
    assert report.passages_embedded == len(embedder.embedded)
    assert updated.dense_kind == "hnsw"
    assert_same_index(updated, fresh_build(tmp_path, [*DOCS, extra]))
    assert IndexRetriever(updated, embedder, "dense").retrieve("coast guard", 1)[0].chunk.doc_id == "d.txt"


def test_manifest_from_before_the_dense_index_setting_loads_as_flat(built: tuple[Config, HashEmbedder, FaissStore]) -> None:
    config, embedder, index = built
    manifest = current_build(config.index_dir) / MANIFEST
    raw = json.loads(manifest.read_text(encoding="utf-8"))
    del raw["dense_index"]
    manifest.write_text(json.dumps(raw), encoding="utf-8")

    loaded = load_index(config, embedder.name)

    assert loaded is not None and loaded.manifest.dense_index == "flat"
    assert_same_index(loaded, index)
    with pytest.raises(StaleIndexError):
        load_index(dataclasses.replace(config, dense_index="hnsw"), embedder.name)
