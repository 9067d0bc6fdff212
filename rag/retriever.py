"""Find the passages most likely to answer a question: dense, BM25, or both fused."""

from __future__ import annotations

from rag.embedder import Embedder
from rag.store.base import PassageStore
from rag.types import Hit

# Each ranking contributes this many candidates to the fusion, so a passage that one
# ranking places just outside top-k can still win on the other.
_FUSION_CANDIDATES = 50


class IndexRetriever:
    """Retrieves from a passage store (FAISS + BM25 files, or Milvus) in one of three modes.

    Args:
        mode: "hybrid" (reciprocal rank fusion of dense and BM25), "dense" or "bm25" (topped up
            by dense search when fewer than k passages share a word with the question). A store
            without lexical search (a Milvus server too old for full-text search) answers every
            mode with dense search; the store says so in the log when it is opened.
        rrf_k: The constant of reciprocal rank fusion: score = sum of 1 / (rrf_k + rank).
    """

    def __init__(self, store: PassageStore, embedder: Embedder, mode: str = "hybrid", rrf_k: int = 60) -> None:
        self._store = store
        self._embedder = embedder
        self._mode = mode
        self._rrf_k = rrf_k
        if not store.supports_lexical:  # the store warned when it was opened
            self._mode = "dense"

    def retrieve(self, question: str, k: int) -> list[Hit]:
        """The top-k passages, best first, each with its dense and BM25 scores."""
        query = self._embedder.embed([question])[0]
        pool = max(k, _FUSION_CANDIDATES)
        dense = self._store.dense_search(query, pool) if self._mode != "bm25" else []
        lexical = self._store.lexical_search(question, pool) if self._mode != "dense" else []
        if self._mode == "dense":
            ranked = dense
        elif self._mode == "bm25":
            ranked = lexical
            if len(ranked) < k:
                # BM25 finds only passages that share a word with the question; one that shares
                # none ("What is the capital of France?") still gets its closest passages, by cosine.
                seen = {pid for pid, _ in ranked}
                ranked = ranked + [(pid, 0.0) for pid, _ in self._store.dense_search(query, k + len(seen)) if pid not in seen]
        else:
            ranked = fuse([dense, lexical], self._rrf_k)
        top = ranked[:k]
        ids = [pid for pid, _ in top]
        chunks = self._store.passages(ids)
        cosines = self._store.cosines(query, ids)
        bm25 = self._store.lexical_scores(question, ids)  # all 0.0 on a store without lexical search
        return [
            Hit(c, score, dense_score=cos, bm25_score=b)
            for c, (_, score), cos, b in zip(chunks, top, cosines, bm25, strict=True)
        ]


def fuse(rankings: list[list[tuple[int, float]]], rrf_k: int) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: rows ranked by the sum of 1 / (rrf_k + rank) over the rankings."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (row, _score) in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (rrf_k + rank)
    # Ties go to the earlier passage, so results do not depend on dict order.
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
