"""The FAISS store in segments: BM25 over segments scores as bm25s does on one index, an update writes
only what it adds, segments merge and purge as the policy says, and nothing rag did not name stays."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from rag.errors import StaleIndexError
from rag.lexical import Bm25Index, Postings, Segment, SegmentedBm25, tokenize
from rag.store import FaissStore, faiss_store, load_index, sync_index
from tests.helpers import DOCS, HashEmbedder, document, make_config, paragraph

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
QUESTIONS = ["Where is Yongsan base?", "Who met Nakatani in Seoul Seoul?", "the the", "zzzz unknown",
             "North Korea missile launch Thursday", "ministers pledged cooperation"]


def seed_passages() -> list[str]:
    texts = []
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        texts += [text[i:i + 400] for i in range(0, len(text), 300)]
    return texts + ["It is.", "...", "Yongsan base Yongsan."]


def test_bm25_scores_equal_bm25s_lucene_on_one_index() -> None:
    import bm25s

    texts = seed_passages()
    reference = bm25s.BM25()
    reference.index([tokenize(t) for t in texts], show_progress=False)
    mine = Bm25Index.build(texts)

    for question in QUESTIONS:
        tokens = tokenize(question)
        expected = np.asarray(reference.get_scores(tokens)) if tokens else np.zeros(len(texts))
        np.testing.assert_allclose(mine.scores(question), expected, atol=1e-5)
    assert mine.search("Yongsan", 1)[0][0] == len(texts) - 1  # twice in a short passage


def test_bm25_over_segments_with_deletions_equals_a_fresh_index_of_the_live_passages() -> None:
    texts = seed_passages()
    rng = random.Random(0)
    cut = len(texts) // 3
    live = [np.array([rng.random() > 0.3 for _ in part]) for part in (texts[:cut], texts[cut:])]
    segmented = SegmentedBm25([Segment(Postings.build(texts[:cut]), live[0]), Segment(Postings.build(texts[cut:]), live[1])])
    mask = np.concatenate(live)
    fresh = Bm25Index.build([t for t, keep in zip(texts, mask) if keep])

    for question in QUESTIONS:
        scores = segmented.scores(question)
        np.testing.assert_allclose(scores[mask], fresh.scores(question), atol=1e-5)
        assert not scores[~mask].any(), "a deleted passage scored"


def segment_files(index_dir: Path) -> dict[str, float]:
    return {p.relative_to(index_dir).as_posix(): p.stat().st_mtime_ns for p in (index_dir / "segments").rglob("*") if p.is_file()}


def listing(index_dir: Path) -> list[dict]:
    build = index_dir / (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    return json.loads((build / "segments.json").read_text(encoding="utf-8"))


def test_a_change_writes_only_the_changed_documents_passages(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    embedder = HashEmbedder()
    docs = [document(f"d{i:02d}.txt", paragraph(f"document number {i} about topic {i}", n=4)) for i in range(8)]
    first, _ = sync_index(config, docs, embedder)
    old_passages = sum(c.doc_id == docs[1].doc_id for c in first.chunks)  # type: ignore[attr-defined]
    before = segment_files(config.index_dir)
    docs[1] = document(docs[1].doc_id, docs[1].text + " One more sentence.")

    store, _ = sync_index(config, docs, embedder)

    after = segment_files(config.index_dir)
    assert all(after.get(name) == mtime for name, mtime in before.items()), "a written segment was rewritten"
    old, new = listing(config.index_dir)
    assert f"segments/{old['segment']}/docs.json" in before
    assert json.loads((config.index_dir / "segments" / new["segment"] / "docs.json").read_text()) == [docs[1].doc_id]
    assert len(old["deleted"]) == old_passages > 0
    assert isinstance(store, FaissStore) and any("One more sentence" in c.text for c in store.chunks)


def test_small_segments_merge_and_stale_segments_are_removed(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    embedder = HashEmbedder()
    docs = [document(f"d{i:02d}.txt", paragraph(f"document number {i} about topic {i}", n=4)) for i in range(8)]
    sync_index(config, docs, embedder)
    for round_ in range(12):  # one document changed at a time: a new small segment each
        docs[round_ % 8] = document(docs[round_ % 8].doc_id, docs[round_ % 8].text + f" Edit {round_}.")
        store, _ = sync_index(config, docs, embedder)
        segments = listing(config.index_dir)
        assert len(segments) <= faiss_store.MAX_SMALL + 1
        on_disk = {p.name for p in (config.index_dir / "segments").iterdir()}
        assert on_disk == {s["segment"] for s in segments}, "a segment no build names was left behind"
    fresh, _ = sync_index(make_config(tmp_path / "fresh"), docs, HashEmbedder())
    assert sorted((c.doc_id, c.chunk_index, c.text) for c in store.chunks) == \
        sorted((c.doc_id, c.chunk_index, c.text) for c in fresh.chunks)
    for question in ("topic 3", "Edit 11", "document number"):
        assert sorted(round(s, 4) for s in store.lexical_scores(question, store.live_ids())) == \
            sorted(round(s, 4) for s in fresh.lexical_scores(question, fresh.live_ids()))


def test_a_segment_mostly_deleted_is_rewritten_without_its_deleted_rows(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    embedder = HashEmbedder()
    sync_index(config, DOCS, embedder)
    first = listing(config.index_dir)[0]["segment"]

    store, _ = sync_index(config, DOCS[:1], embedder)  # most of the first segment's documents go

    segments = listing(config.index_dir)
    assert [s["segment"] for s in segments] != [first] and all(not s["deleted"] for s in segments)
    assert not (config.index_dir / "segments" / first).exists()
    assert {c.doc_id for c in store.chunks} == {DOCS[0].doc_id}


def test_segments_hold_a_bounded_number_of_passages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faiss_store, "SEGMENT_ROWS", 8)
    monkeypatch.setattr(faiss_store, "SMALL_ROWS", 2)
    config = make_config(tmp_path)
    docs = [document(f"d{i:02d}.txt", paragraph(f"document number {i}", n=6)) for i in range(6)]

    store, _ = sync_index(config, docs, HashEmbedder())

    rows = [s["rows"] for s in listing(config.index_dir)]
    assert max(rows) == 8 and len(rows) >= 3
    loaded = load_index(config, HashEmbedder().name)
    assert isinstance(loaded, FaissStore) and loaded.chunks == store.chunks


def test_an_index_from_before_segments_is_stale_and_says_how_to_rebuild(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    sync_index(config, DOCS, HashEmbedder())
    build = config.index_dir / (config.index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    (build / "segments.json").unlink()
    (build / "passages.jsonl").write_text("{}\n", encoding="utf-8")

    with pytest.raises(StaleIndexError, match="older rag") as excinfo:
        load_index(config, HashEmbedder().name)
    assert "rag index --rebuild" in str(excinfo.value)


def test_an_update_of_several_batches_shows_one_bar_over_documents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from rag import embedder as embedder_module
    from rag.store import sync

    class Recording(HashEmbedder):
        own_bar: list[bool] = []

        def embed(self, texts: list[str]) -> np.ndarray:
            self.own_bar.append(embedder_module._wants_progress(1000))
            return super().embed(texts)

    monkeypatch.setattr(sync, "_EMBED_BATCH_CHARS", 200)
    monkeypatch.setattr(logging.getLogger("rag"), "level", logging.INFO)
    docs = [document(f"d{i:03d}.txt", paragraph(f"document number {i}", n=3)) for i in range(70)]

    sync_index(make_config(tmp_path), docs, Recording())

    assert len(Recording.own_bar) > 1 and not any(Recording.own_bar), "the embedder drew bars of its own"
    err = capsys.readouterr().err
    assert "Indexing" in err and "70/70" in err
    assert embedder_module._wants_progress(1000), "the embedder's bars stay off after the update"
