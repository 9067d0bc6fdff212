"""What the retriever and the indexer need from a store of passages, whatever holds them.

Two stores implement it: FAISS + BM25 files in the index folder (``rag.store.PassageIndex``, the
default) and a Milvus collection (``rag.milvus_store``). Passages are named by integer ids that
the store chooses: row numbers for FAISS, primary keys for Milvus.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from rag.types import Chunk

if TYPE_CHECKING:
    from rag.store import Manifest

Vector = npt.NDArray[np.float32]
Scored = list[tuple[int, float]]  # (passage id, score), best first


class PassageStore(Protocol):
    """A built index that can be searched; ``manifest`` says what built it."""

    manifest: Manifest

    @property
    def supports_lexical(self) -> bool:
        """Whether lexical (BM25) search works here; when not, retrieval falls back to dense."""
        ...

    def count(self) -> int:
        """The number of passages stored."""
        ...

    def dense_search(self, query: Vector, k: int) -> Scored:
        """The k passages whose vectors are nearest the query, as (id, cosine similarity)."""
        ...

    def lexical_search(self, question: str, k: int) -> Scored:
        """The k passages with the best positive BM25 score for the question."""
        ...

    def passages(self, ids: Sequence[int]) -> list[Chunk]:
        """The passages with these ids, in the same order."""
        ...

    def cosines(self, query: Vector, ids: Sequence[int]) -> list[float]:
        """Cosine similarity of the query with each of these passages."""
        ...

    def lexical_scores(self, question: str, ids: Sequence[int]) -> list[float]:
        """BM25 score of each of these passages for the question (0.0 where no term matches)."""
        ...


class StoreWriter(Protocol):
    """Changes a store by documents; nothing is visible to new readers until :meth:`commit`
    (FAISS writes a new build; Milvus applies each change at once and commit records it)."""

    def delete(self, doc_ids: Collection[str]) -> None:
        """Remove every passage of these documents."""
        ...

    def add(self, chunks: Sequence[Chunk], vectors: Vector) -> None:
        """Store passages with their vectors (row i of ``vectors`` belongs to ``chunks[i]``)."""
        ...

    def commit(self, manifest: Manifest) -> PassageStore:
        """Make the changes durable under ``manifest`` and return the store to search."""
        ...
