"""What every store of passages is: the manifest that says what built it, and the protocols that the
retriever (``PassageStore``) and the sync (``StoreWriter``) use, whatever holds the passages.

Two stores implement them: FAISS + BM25 files in the index folder (``rag.store.faiss_store``, the
default) and a Milvus collection (``rag.store.milvus_store``). Passages are named by integer ids that
the store chooses: row numbers for FAISS, primary keys for Milvus.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from rag.types import Chunk, DocumentInfo

Vector = npt.NDArray[np.float32]
Scored = list[tuple[int, float]]  # (passage id, score), best first

FORMAT_VERSION = 2  # 2: the manifest keeps each document's title, date and page offsets


@dataclass(frozen=True, slots=True)
class Manifest:
    """What built an index: embedder, chunker and store settings, and every document's hash."""

    format_version: int
    embed_model: str
    embed_dim: int
    chunk_chars: int
    chunk_overlap: int
    documents: dict[str, str]  # doc id -> sha256 of its text
    passages: int
    built_at: str
    # doc id -> {"title", "date", "page_starts"}: what citations show besides the text
    document_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    # "flat" or "hnsw" (Config.dense_index); manifests written before the setting existed are flat.
    dense_index: str = "flat"
    # Where the passages are: {"kind": "faiss"}, or {"kind": "milvus", "uri": store_uri as
    # configured ("" = the Lite file in the index folder), "collection": ..., "bm25": bool}.
    store: dict[str, Any] = field(default_factory=lambda: {"kind": "faiss"})

    def info(self, doc_id: str) -> DocumentInfo:
        raw = self.document_info.get(doc_id, {})
        return DocumentInfo(raw.get("title", ""), raw.get("date"), tuple(raw.get("page_starts", ())))

    def to_json(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in Manifest.__dataclass_fields__}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Manifest:
        """A manifest read from disk, every field checked: a hand-edited one is refused here with
        the field it got wrong, not with a TypeError later.

        Raises:
            ValueError: A field is missing, unknown or of the wrong type.
        """
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown manifest field {sorted(unknown)[0]!r}")
        kinds = {"format_version": int, "embed_model": str, "embed_dim": int, "chunk_chars": int, "chunk_overlap": int,
                 "documents": dict, "passages": int, "built_at": str, "document_info": dict, "dense_index": str,
                 "store": dict}
        for name, kind in kinds.items():
            if name not in raw:
                if cls.__dataclass_fields__[name].default is MISSING and cls.__dataclass_fields__[name].default_factory is MISSING:
                    raise ValueError(f"the manifest has no {name!r}")
                continue
            value = raw[name]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValueError(f"manifest field {name!r} must be a {kind.__name__}, not {type(value).__name__}")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in raw["documents"].items()):
            raise ValueError("manifest field 'documents' must map document ids to hashes")
        if not all(isinstance(v, dict) for v in raw.get("document_info", {}).values()):
            raise ValueError("manifest field 'document_info' must map document ids to objects")
        if raw.get("store", {"kind": "faiss"}).get("kind") not in ("faiss", "milvus"):
            raise ValueError("manifest field 'store' must say kind \"faiss\" or \"milvus\"")
        return cls(**raw)


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
    """Changes a store by documents; nothing is visible to new readers until the sync publishes the
    build that :meth:`commit` returns (FAISS writes its files into it; Milvus applies each change at
    once, and the published manifest records them)."""

    def delete(self, doc_ids: Collection[str]) -> None:
        """Remove every passage of these documents."""
        ...

    def add(self, chunks: Sequence[Chunk], vectors: Vector) -> None:
        """Store passages with their vectors (row i of ``vectors`` belongs to ``chunks[i]``)."""
        ...

    def commit(self, manifest: Manifest, build: Path) -> PassageStore:
        """Make the changes durable (FAISS: its files in the new, empty ``build`` folder) and return
        the store, whose manifest counts its passages; the caller writes that manifest."""
        ...
