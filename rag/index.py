"""The dense view of the passages: FAISS vectors (BM25 terms are in rag/lexical.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rag.config import DENSE_INDEXES

# HNSW settings, for 384-dim sentence embeddings and up to a few hundred thousand passages:
# M=32 links per node (64 on the bottom layer) costs 256 bytes a vector beside its 1,536 and keeps
# recall high at this dimension (M=16 lost ~10 points of recall@10 in our checks); efConstruction=80
# buys a better graph for a slower build, once. efSearch=128 is past the retriever's 50-candidate
# pool and gave recall@10 >= 0.98 against exact search even on random unit vectors (the hard case:
# no clusters), where 64 gave 0.93; it still costs well under a millisecond at 20k passages.
_HNSW_M = 32
_HNSW_EF_CONSTRUCTION = 80
_HNSW_EF_SEARCH = 128
# Vectors are added to FAISS this many at a time, so no second full copy of them is made.
_ADD_BLOCK = 8192


class DenseIndex:
    """Inner-product search over unit vectors (so scores are cosine similarities).

    Two kinds: "flat" compares every vector (kept as float16); "hnsw" walks a graph of float32
    vectors, faster on large corpora but approximate. Scores are cosines of the stored vectors.
    """

    def __init__(self, faiss_index: Any) -> None:  # Any: faiss's stubs lack much of what its indexes do
        self._index = faiss_index

    @classmethod
    def build(cls, vectors: npt.NDArray[np.float32] | Sequence[npt.NDArray[np.float32]], kind: str = "flat",
              dimension: int | None = None) -> DenseIndex:
        """An index of ``vectors`` (row i is passage i) of the given kind, "flat" or "hnsw".

        ``vectors`` may be a sequence of rows (with ``dimension``): they are added a block at a time,
        so the index is the only full copy of them.
        """
        import faiss

        if kind not in DENSE_INDEXES:
            raise ValueError(f"dense index kind must be one of {', '.join(DENSE_INDEXES)}, not {kind!r}")
        dimension = dimension or int(np.shape(vectors)[1])
        index: Any
        if kind == "hnsw":
            index = faiss.IndexHNSWFlat(dimension, _HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
        else:
            # Exact search over vectors kept as float16: each component within 3e-5 of its float32
            # value (cosines within ~1e-4), half the memory, and a question reads half the bytes
            # (a flat search is memory-bound: 27 ms at 193k passages in float32, 8 ms in float16, side
            # by side on one CPU; the accuracy check is docs/benchmark-float16.md).
            index = faiss.IndexScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        for first in range(0, len(vectors), _ADD_BLOCK):
            block = np.asarray(vectors[first:first + _ADD_BLOCK], dtype=np.float32).reshape(-1, dimension)
            index.add(np.ascontiguousarray(block))
        return cls._ready(index)

    @classmethod
    def load(cls, path: Path) -> DenseIndex:
        import faiss

        # Read and written through Python's file layer, streamed (no second copy of the index in
        # memory), not by file name: FAISS takes the name as UTF-8 (a folder whose name is not, e.g.
        # Latin-1 bytes, raised TypeError) and reports a full disk as a bare RuntimeError.
        with open(path, "rb") as f:
            return cls._ready(faiss.read_index(faiss.PyCallbackIOReader(f.read)))  # type: ignore[attr-defined]

    @classmethod
    def _ready(cls, index: Any) -> DenseIndex:
        import faiss

        # The file keeps the efSearch it was written with; ours wins, so changing it here
        # applies to indexes already on disk.
        if isinstance(index, faiss.IndexHNSW):
            index.hnsw.efSearch = _HNSW_EF_SEARCH
        return cls(index)

    def save(self, path: Path) -> None:
        import faiss

        failed: list[OSError] = []

        def write(data: bytes) -> int:
            try:
                return f.write(data)
            except OSError as err:  # FAISS turns it into a RuntimeError; the OSError says why
                failed.append(err)
                raise

        with open(path, "wb") as f:  # see load(); the build folder is published only when complete
            try:
                faiss.write_index(self._index, faiss.PyCallbackIOWriter(write))  # type: ignore[attr-defined]
            except RuntimeError:
                if failed:
                    raise failed[0] from None
                raise

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    @property
    def kind(self) -> str:
        """The kind of index, "flat" or "hnsw", read from the FAISS index itself."""
        import faiss

        return "hnsw" if isinstance(self._index, faiss.IndexHNSW) else "flat"

    def vectors(self) -> npt.NDArray[np.float32]:
        """All stored vectors, row i for passage i."""
        return self._index.reconstruct_n(0, self.size)

    def search(self, query: npt.NDArray[np.float32], k: int,
               live: npt.NDArray[np.uint8] | None = None) -> list[tuple[int, float]]:
        """The k rows nearest the query, as (row, cosine similarity), best first.

        Args:
            live: Only rows whose bit is set here are found (``np.packbits(mask, bitorder="little")``).
        """
        import faiss

        k = min(k, self.size)
        if k == 0:
            return []
        params = None
        if live is not None:
            selector = faiss.IDSelectorBitmap(self.size, faiss.swig_ptr(live))
            params = (faiss.SearchParametersHNSW(sel=selector, efSearch=_HNSW_EF_SEARCH) if self.kind == "hnsw"  # type: ignore[attr-defined]
                      else faiss.SearchParameters(sel=selector))  # type: ignore[call-arg]
        scores, rows = self._index.search(query.reshape(1, -1).astype(np.float32), k, params=params)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def similarity(self, query: npt.NDArray[np.float32], rows: list[int]) -> list[float]:
        """Cosine similarity of the query with the given rows (for passages BM25 found)."""
        if not rows:
            return []
        stored = np.stack([self._index.reconstruct(int(r)) for r in rows])
        return [float(s) for s in stored @ query.astype(np.float32)]
