"""The two searchable views of the passages: FAISS vectors and BM25 terms."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import numpy.typing as npt

_TOKEN = re.compile(r"\w+")


class DenseIndex:
    """Exact inner-product search over unit vectors (so scores are cosine similarities)."""

    def __init__(self, faiss_index: object) -> None:
        self._index = faiss_index

    @classmethod
    def build(cls, vectors: npt.NDArray[np.float32]) -> DenseIndex:
        import faiss

        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index)

    @classmethod
    def load(cls, path: Path) -> DenseIndex:
        import faiss

        return cls(faiss.read_index(str(path)))

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    def vectors(self) -> npt.NDArray[np.float32]:
        """All stored vectors, row i for passage i."""
        return self._index.reconstruct_n(0, self.size)

    def search(self, query: npt.NDArray[np.float32], k: int) -> list[tuple[int, float]]:
        """The k rows nearest the query, as (row, cosine similarity), best first."""
        k = min(k, self.size)
        if k == 0:
            return []
        scores, rows = self._index.search(query.reshape(1, -1).astype(np.float32), k)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def similarity(self, query: npt.NDArray[np.float32], rows: list[int]) -> list[float]:
        """Cosine similarity of the query with the given rows (for passages BM25 found)."""
        if not rows:
            return []
        stored = np.stack([self._index.reconstruct(int(r)) for r in rows])
        return [float(s) for s in stored @ query.astype(np.float32)]


class Bm25Index:
    """BM25 over lower-cased word tokens, English stop words removed."""

    def __init__(self, bm25: object) -> None:
        self._bm25 = bm25

    @classmethod
    def build(cls, texts: list[str]) -> Bm25Index:
        import bm25s

        bm25 = bm25s.BM25()
        bm25.index([tokenize(t) for t in texts], show_progress=False)
        return cls(bm25)

    @classmethod
    def load(cls, folder: Path) -> Bm25Index:
        import bm25s

        return cls(bm25s.BM25.load(str(folder), show_progress=False, verbosity=0))

    def save(self, folder: Path) -> None:
        self._bm25.save(str(folder), show_progress=False)

    @property
    def size(self) -> int:
        return int(self._bm25.scores["num_docs"])

    def scores(self, question: str) -> npt.NDArray[np.float32]:
        """BM25 score of every passage for the question (0 where no term is shared)."""
        tokens = tokenize(question)
        if not tokens:  # only stop words ("Is it?"): bm25s cannot score an empty query
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)

    def search(self, question: str, k: int) -> list[tuple[int, float]]:
        """The k best-scoring rows with a positive score, as (row, score), best first."""
        scores = self.scores(question)
        # Stable sort on -score: ties keep passage order, so results are deterministic.
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(r), float(scores[r])) for r in order if scores[r] > 0]


def tokenize(text: str) -> list[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return [t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS_EN]
