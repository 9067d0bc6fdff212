"""Find the passages most likely to answer a question: dense, BM25, or both fused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.config import RetrievalMode
from rag.embedder import Embedder
from rag.store.base import PassageStore
from rag.types import Hit

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# Each ranking contributes this many candidates to the fusion, so a passage that one
# ranking places just outside top-k can still win on the other.
_FUSION_CANDIDATES = 50


class IndexRetriever:
    """Retrieves from a passage store (FAISS + BM25 files, or Milvus) in one of three modes.

    Args:
        mode: "hybrid" (reciprocal rank fusion of dense and BM25), "weighted" (a weighted sum of
            the cosine and the BM25 score as a share of the best one, over both rankings'
            candidates), "rerank" (BM25's top ``rerank_depth`` passages ordered by cosine),
            "dense" or "bm25" (each topped up by dense search when fewer than k passages share
            a word with the question). A store without lexical search (a Milvus server too old
            for full-text search) answers every mode with dense search; the store says so in
            the log when it is opened.
        rrf_k: The constant of reciprocal rank fusion: score = sum of 1 / (rrf_k + rank).
        dense_weight: For "weighted": score = dense_weight * cosine + (1 - dense_weight) * BM25 share.
        rerank_depth: For "rerank": how many BM25 passages are ordered by cosine.
    """

    def __init__(self, store: PassageStore, embedder: Embedder, mode: RetrievalMode = "hybrid", rrf_k: int = 60,
                 dense_weight: float = 0.5, rerank_depth: int = 20) -> None:
        self._store = store
        self._embedder = embedder
        self._mode = mode
        self._rrf_k = rrf_k
        self._dense_weight = dense_weight
        self._rerank_depth = rerank_depth
        if not store.supports_lexical:  # the store warned when it was opened
            self._mode = "dense"

    def retrieve(self, question: str, k: int) -> list[Hit]:
        """The top-k passages, best first, each with its dense and BM25 scores."""
        query = self._embedder.embed([question])[0]
        pool = max(k, _FUSION_CANDIDATES)
        if self._mode == "dense":
            ranked = self._store.dense_search(query, pool)
        elif self._mode == "hybrid":
            ranked = fuse([self._store.dense_search(query, pool), self._store.lexical_search(question, pool)], self._rrf_k)
        elif self._mode == "weighted":
            ranked = self._weighted(question, query, pool)
        else:  # bm25 and rerank
            depth = max(k, self._rerank_depth) if self._mode == "rerank" else pool
            ranked = self._store.lexical_search(question, depth)
            if self._mode == "rerank":
                cosines = self._store.cosines(query, [pid for pid, _ in ranked])
                ranked = sorted(((pid, cos) for (pid, _), cos in zip(ranked, cosines, strict=True)),
                                key=lambda item: (-item[1], item[0]))
            if len(ranked) < k:
                # BM25 finds only passages that share a word with the question; one that shares
                # none ("What is the capital of France?") still gets its closest passages, by cosine.
                seen = {pid for pid, _ in ranked}
                ranked = ranked + [(pid, 0.0) for pid, _ in self._store.dense_search(query, k + len(seen)) if pid not in seen]
        top = ranked[:k]
        ids = [pid for pid, _ in top]
        chunks = self._store.passages(ids)
        cosines = self._store.cosines(query, ids)
        bm25 = self._store.lexical_scores(question, ids)  # all 0.0 on a store without lexical search
        return [
            Hit(c, score, dense_score=cos, bm25_score=b)
            for c, (_, score), cos, b in zip(chunks, top, cosines, bm25, strict=True)
        ]


    def _weighted(self, question: str, query: npt.NDArray[np.float32], pool: int) -> list[tuple[int, float]]:
        """Both rankings' candidates by dense_weight * cosine + (1 - dense_weight) * BM25 / best BM25."""
        dense = self._store.dense_search(query, pool)
        lexical = self._store.lexical_search(question, pool)
        ids = list(dict.fromkeys([pid for pid, _ in dense] + [pid for pid, _ in lexical]))
        cosines = self._store.cosines(query, ids)
        bm25 = self._store.lexical_scores(question, ids)
        top = max(bm25, default=0.0)
        w = self._dense_weight
        scored = [(pid, w * cos + (1 - w) * (b / top if top > 0 else 0.0)) for pid, cos, b in zip(ids, cosines, bm25, strict=True)]
        return sorted(scored, key=lambda item: (-item[1], item[0]))


def fuse(rankings: list[list[tuple[int, float]]], rrf_k: int) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: rows ranked by the sum of 1 / (rrf_k + rank) over the rankings."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (row, _score) in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (rrf_k + rank)
    # Ties go to the earlier passage, so results do not depend on dict order.
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
