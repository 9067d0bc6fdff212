"""The default store: passages, a FAISS dense index and a BM25 index as files in a build folder."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from rag.errors import CorruptIndexError, first_line
from rag.index import Bm25Index, DenseIndex, top_rows
from rag.store.base import Manifest, Scored, Vector
from rag.types import Chunk

PASSAGES = "passages.jsonl"
DENSE = "dense.faiss"
BM25 = "bm25"


class FaissStore:
    """The FAISS + BM25 store, loaded: passage i is ``chunks[i]``, row i of ``dense`` and document
    i of ``bm25``. Passage ids are row numbers. Implements :class:`rag.store.base.PassageStore`."""

    __slots__ = ("manifest", "chunks", "dense", "bm25", "_last_scores")

    def __init__(self, manifest: Manifest, chunks: tuple[Chunk, ...], dense: DenseIndex, bm25: Bm25Index) -> None:
        self.manifest = manifest
        self.chunks = chunks
        self.dense = dense
        self.bm25 = bm25
        # The last question's BM25 scores of every passage: lexical_search and lexical_scores for
        # the same question (one retrieve) score the corpus once. One tuple, replaced whole, so
        # threads never see a question with another question's scores.
        self._last_scores: tuple[str, npt.NDArray[np.float32] | None] = ("", None)

    @property
    def supports_lexical(self) -> bool:
        return True

    def count(self) -> int:
        return len(self.chunks)

    def dense_search(self, query: Vector, k: int) -> Scored:
        return self.dense.search(query, k)

    def lexical_search(self, question: str, k: int) -> Scored:
        return top_rows(self._bm25_scores(question), k)

    def passages(self, ids: Sequence[int]) -> list[Chunk]:
        return [self.chunks[i] for i in ids]

    def cosines(self, query: Vector, ids: Sequence[int]) -> list[float]:
        return self.dense.similarity(query, list(ids))

    def lexical_scores(self, question: str, ids: Sequence[int]) -> list[float]:
        scores = self._bm25_scores(question)
        return [float(scores[i]) for i in ids]

    def save(self, build: Path) -> None:
        """Write passages.jsonl, dense.faiss and bm25/ into a build folder."""
        with open(build / PASSAGES, "w", encoding="utf-8") as f:
            for c in self.chunks:
                f.write(json.dumps({"doc_id": c.doc_id, "chunk_index": c.chunk_index, "start": c.start, "end": c.end,
                                    "text": c.text}, ensure_ascii=False) + "\n")
        self.dense.save(build / DENSE)
        self.bm25.save(build / BM25)

    def _bm25_scores(self, question: str) -> npt.NDArray[np.float32]:
        asked, scores = self._last_scores
        if scores is None or asked != question:
            scores = self.bm25.scores(question)
            self._last_scores = (question, scores)
        return scores


def open_faiss(build: Path, manifest: Manifest, rebuild_hint: str) -> FaissStore:
    """The store saved in a build folder, checked against its manifest.

    Raises:
        CorruptIndexError: A part is missing or unreadable, or the parts disagree with each other or
            with the manifest.
    """
    try:
        with open(build / PASSAGES, encoding="utf-8") as f:
            chunks = tuple(Chunk(**json.loads(line)) for line in f)
        dense = DenseIndex.load(build / DENSE)
        bm25 = Bm25Index.load(build / BM25)
        sizes = {len(chunks), manifest.passages, dense.size, bm25.size}
        if len(sizes) != 1 or dense.dimension != manifest.embed_dim:
            raise ValueError("its parts disagree on the number of passages")
        if dense.kind != manifest.dense_index:
            raise ValueError(f"the manifest says a {manifest.dense_index} dense index, the file holds {dense.kind}")
        if any(c.text and len(c.text) != c.end - c.start for c in chunks):
            raise ValueError("passage offsets do not match passage texts")
    # What damaged files raise: FAISS a RuntimeError, json and bm25s ValueError, KeyError or
    # TypeError, the file system OSError. Anything else is a bug, and keeps its traceback.
    except (OSError, ValueError, TypeError, KeyError, RuntimeError, EOFError) as err:
        raise CorruptIndexError(f"the index in {build.parent} is damaged ({first_line(err)}); {rebuild_hint}") from err
    return FaissStore(manifest, chunks, dense, bm25)


class FaissWriter:
    """Collects a FAISS build: the previous build's passages and vectors, minus deleted documents,
    plus added ones; :meth:`commit` builds both indexes and saves them into the new build folder."""

    def __init__(self, previous: FaissStore | None) -> None:
        self._passages: dict[str, list[tuple[Chunk, Vector]]] = {}
        if previous is not None:
            vectors = previous.dense.vectors()
            for row, c in enumerate(previous.chunks):
                self._passages.setdefault(c.doc_id, []).append((c, vectors[row]))

    def delete(self, doc_ids: Collection[str]) -> None:
        for doc_id in doc_ids:
            self._passages.pop(doc_id, None)

    def add(self, chunks: Sequence[Chunk], vectors: Vector) -> None:
        for c, v in zip(chunks, vectors, strict=True):
            self._passages.setdefault(c.doc_id, []).append((c, v))

    def commit(self, manifest: Manifest, build: Path) -> FaissStore:
        # Rows follow the corpus's document order, whatever order the changes came in.
        pairs = [pair for doc_id in manifest.documents for pair in self._passages.get(doc_id, [])]
        chunks = tuple(c for c, _ in pairs)
        manifest = dataclasses.replace(manifest, passages=len(chunks))
        dense = DenseIndex.build([v for _, v in pairs], kind=manifest.dense_index, dimension=manifest.embed_dim)
        store = FaissStore(manifest, chunks, dense, Bm25Index.build([c.text for c in chunks]))
        store.save(build)
        return store
