"""Find the passages most likely to answer a question: dense, BM25, or both fused."""

from __future__ import annotations

from typing import Protocol

from rag.embedder import Embedder
from rag.index import top_rows
from rag.store import PassageIndex
from rag.types import Hit

# Each ranking contributes this many candidates to the fusion, so a passage that one
# ranking places just outside top-k can still win on the other.
_FUSION_CANDIDATES = 50


class Retriever(Protocol):
    def retrieve(self, question: str, k: int) -> list[Hit]: ...


class IndexRetriever:
    """Retrieves from a PassageIndex in one of three modes.

    Args:
        mode: "hybrid" (reciprocal rank fusion of dense and BM25), "dense" or "bm25".
        rrf_k: The constant of reciprocal rank fusion: score = sum of 1 / (rrf_k + rank).
    """

    def __init__(self, index: PassageIndex, embedder: Embedder, mode: str = "hybrid", rrf_k: int = 60) -> None:
        self._index = index
        self._embedder = embedder
        self._mode = mode
        self._rrf_k = rrf_k

    def retrieve(self, question: str, k: int) -> list[Hit]:
        """The top-k passages, best first, each with its dense and BM25 scores."""
        query = self._embedder.embed([question])[0]
        bm25_scores = self._index.bm25.scores(question)
        pool = max(k, _FUSION_CANDIDATES)
        dense = self._index.dense.search(query, pool) if self._mode != "bm25" else []
        lexical = top_rows(bm25_scores, pool) if self._mode != "dense" else []  # scored once, above
        if self._mode == "dense":
            ranked = dense
        elif self._mode == "bm25":
            ranked = lexical
        else:
            ranked = fuse([dense, lexical], self._rrf_k)
        top = ranked[:k]
        cosines = self._index.dense.similarity(query, [row for row, _ in top])
        return [
            Hit(self._index.chunks[row], score, dense_score=cos, bm25_score=float(bm25_scores[row]))
            for (row, score), cos in zip(top, cosines)
        ]


def fuse(rankings: list[list[tuple[int, float]]], rrf_k: int) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: rows ranked by the sum of 1 / (rrf_k + rank) over the rankings."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (row, _score) in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (rrf_k + rank)
    # Ties go to the earlier passage, so results do not depend on dict order.
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
