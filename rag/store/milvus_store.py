"""Passages in a Milvus collection: Milvus Lite (a local ``.db`` file, embedded) or a Milvus server
(``http://host:19530``), through the same pymilvus calls.

One collection holds every passage: its text, offsets, dense vector and, where the running Milvus
has full-text search (2.5 and later, Lite included), a BM25 sparse vector that Milvus derives from
the text itself. Updates are by document: delete its passages, insert the new ones. The index
folder keeps the manifest (embedder, chunker settings, document hashes), as for FAISS.

Needs the optional extra: ``pip install -e '.[milvus]'`` (pymilvus and milvus-lite).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.config import Config
from rag.errors import (
    ConfigError,
    CorruptIndexError,
    IndexFolderError,
    NotAnIndexError,
    RagError,
    first_line,
)
from rag.lexical import tokenize
from rag.store.base import Manifest, PassageStore, Scored, Vector
from rag.store.milvus_client import (
    MAX_TEXT_BYTES,
    connect,
    count_passages,
    create_collection,
    dimension,
    floats,
    has_bm25,
    string_list,
)
from rag.types import Chunk

if TYPE_CHECKING:
    from pymilvus import MilvusClient

log = logging.getLogger(__name__)

_INSERT_BATCH = 512  # rows per insert call: well under gRPC's message limit at 800-char passages
_FILTER_BATCH = 1000  # values per "in [...]" filter
_OUTPUT = ["doc_id", "chunk_index", "char_start", "char_end", "text"]


def passage_id(c: Chunk) -> int:
    """A stable 63-bit primary key for a passage: the same passage always gets the same id."""
    digest = hashlib.blake2b(f"{c.doc_id}\0{c.chunk_index}\0{c.start}\0{c.end}\0{c.text}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") >> 1


class MilvusStore:
    """A Milvus collection, searched. Implements :class:`rag.store.base.PassageStore`."""

    def __init__(self, manifest: Manifest, client: MilvusClient, collection: str, bm25: bool) -> None:
        self.manifest = manifest
        self._client = client
        self._collection = collection
        self._bm25 = bm25

    @property
    def supports_lexical(self) -> bool:
        return self._bm25

    def count(self) -> int:
        return count_passages(self._client, self._collection)

    def dense_search(self, query: Vector, k: int) -> Scored:
        found = self._client.search(
            self._collection, data=[floats(query)], anns_field="vector", limit=k,
            search_params={"metric_type": "IP"}, output_fields=[],
        )
        return [(int(hit["id"]), float(hit["distance"])) for hit in found[0]]

    def lexical_search(self, question: str, k: int, ids: Sequence[int] | None = None) -> Scored:
        # A question of stop words only has no terms to search for (Milvus would reject it).
        if not self._bm25 or not tokenize(question):
            return []
        options: dict[str, Any] = {}
        if ids is not None:
            options = {"filter": f"id in {[int(i) for i in ids]}"}
        try:
            found = self._client.search(
                self._collection, data=[question], anns_field="sparse", limit=k,
                search_params={"metric_type": "BM25"}, output_fields=[], **options,
            )
        except Exception as err:  # pymilvus raises MilvusException or gRPC errors
            # Not an empty result: a hybrid search that quietly lost its lexical half would be
            # worse than an error the user can act on.
            raise IndexFolderError(
                f"full-text search in the Milvus collection {self._collection!r} failed: {first_line(err)}"
            ) from err
        # Best first. A BM25 score is never negative, but Milvus Lite reports it negated (as a
        # distance); a Milvus server reports it as is. abs() reads both.
        scored = [(int(hit["id"]), abs(float(hit["distance"]))) for hit in found[0]]
        return [(pid, score) for pid, score in scored if score > 0]

    def passages(self, ids: Sequence[int]) -> list[Chunk]:
        rows = self._rows(ids, _OUTPUT)
        return [Chunk(r["doc_id"], int(r["chunk_index"]), int(r["char_start"]), int(r["char_end"]), r["text"])
                for r in (rows[i] for i in ids)]

    def cosines(self, query: Vector, ids: Sequence[int]) -> list[float]:
        if not ids:
            return []
        rows = self._rows(ids, ["vector"])
        stored = np.asarray([rows[i]["vector"] for i in ids], dtype=np.float32)
        return [float(s) for s in stored @ np.asarray(query, dtype=np.float32)]

    def lexical_scores(self, question: str, ids: Sequence[int]) -> list[float]:
        if not ids:
            return []
        scores = dict(self.lexical_search(question, len(ids), ids))
        return [scores.get(i, 0.0) for i in ids]

    def _rows(self, ids: Sequence[int], fields: list[str]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        found = self._client.get(self._collection, ids=[int(i) for i in ids], output_fields=fields)
        rows = {int(r["id"]): r for r in found}
        if missing := [i for i in ids if i not in rows]:
            raise CorruptIndexError(
                f"passage {missing[0]} is gone from the Milvus collection {self._collection!r}: another process "
                "changed it; run rag index"
            )
        return rows


class MilvusWriter:
    """Changes the collection by document. Each delete and insert is applied at once; the sync
    records the documents it touches (the index folder's PENDING) first, so an interrupted update
    is redone."""

    def __init__(self, config: Config, dimension: int, fresh: bool, rebuild: bool, rebuild_command: str,
                 folder_wrote_it: bool = False) -> None:
        """Args:
            fresh: There is no previous build: the collection is (re)created on the first change.
            rebuild: The user asked to rebuild, so a collection this index did not write may go.
            folder_wrote_it: The index folder has published or started a build, so what the
                collection holds was written by it.
        """
        self._dimension = dimension
        self._collection = config.milvus_collection
        self._client = connect(config)
        self._ready = not fresh
        if not fresh:
            self._client.load_collection(self._collection)  # deletes by filter need it loaded
        if fresh and self._client.has_collection(self._collection):
            self._client.load_collection(self._collection)
            held = count_passages(self._client, self._collection)
            if held and not folder_wrote_it and not rebuild:
                raise NotAnIndexError(
                    f"the Milvus collection {self._collection!r} at {config.milvus_uri} already holds {held} passages "
                    f"that the index folder {config.index_dir} did not write; set another milvus_collection, or "
                    f"replace it with: {rebuild_command}"
                )
        self._bm25 = has_bm25(self._client, self._collection) if self._ready else True

    def delete(self, doc_ids: Collection[str]) -> None:
        ids = sorted(doc_ids)
        with self._writing("delete passages from"):
            self._ensure_collection()
            for i in range(0, len(ids), _FILTER_BATCH):
                self._client.delete(self._collection, filter=f"doc_id in {string_list(ids[i : i + _FILTER_BATCH])}")

    @contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """Milvus's errors while changing the collection (a full disk on the server) as one line; the
        update stays pending (the next `rag index` redoes it) and the current build untouched."""
        try:
            yield
        except RagError:
            raise
        except Exception as err:  # pymilvus raises MilvusException, gRPC errors, RuntimeError from Lite
            raise IndexFolderError(
                f"cannot {what} the Milvus collection {self._collection!r}: {first_line(err)}; "
                f"fix that and run rag index again (it redoes this update)"
            ) from err

    def add(self, chunks: Sequence[Chunk], vectors: Vector) -> None:
        with self._writing("create"):
            self._ensure_collection()
        rows = []
        for c, v in zip(chunks, vectors, strict=True):
            if len(c.text.encode("utf-8")) > MAX_TEXT_BYTES:
                raise ConfigError(
                    f"a passage of {c.doc_id} is over Milvus's {MAX_TEXT_BYTES}-byte text limit; lower chunk_chars"
                )
            rows.append({"id": passage_id(c), "doc_id": c.doc_id, "chunk_index": c.chunk_index, "char_start": c.start,
                         "char_end": c.end, "text": c.text, "vector": floats(v)})
        with self._writing("insert passages into"):
            for i in range(0, len(rows), _INSERT_BATCH):
                self._client.insert(self._collection, rows[i : i + _INSERT_BATCH])

    def commit(self, manifest: Manifest, build: Path) -> PassageStore:
        """Flush the collection; the build folder stays empty (the passages are in Milvus)."""
        with self._writing("flush"):
            self._ensure_collection()
            self._client.flush(self._collection)
            passages = count_passages(self._client, self._collection)
        manifest = dataclasses.replace(manifest, passages=passages, store={**manifest.store, "bm25": self._bm25})
        return MilvusStore(manifest, self._client, self._collection, self._bm25)

    def _ensure_collection(self) -> None:
        """On the first change of a fresh build: drop what the collection held, create it anew."""
        if self._ready:
            return
        if self._client.has_collection(self._collection):
            self._client.drop_collection(self._collection)
        self._bm25 = create_collection(self._client, self._collection, self._dimension)
        self._ready = True


def open_milvus(config: Config, manifest: Manifest, rebuild_hint: str, updating: bool) -> MilvusStore:
    """The collection a manifest describes, checked against it.

    Raises:
        CorruptIndexError: The collection is missing, or holds another number of passages or
            vectors of another size than the manifest says (unless ``updating``, which repairs).
    """
    client = connect(config)
    collection = config.milvus_collection
    where = f"the Milvus collection {collection!r} at {config.milvus_uri}"
    if not client.has_collection(collection):
        raise CorruptIndexError(f"{where} is missing; {rebuild_hint}")
    client.load_collection(collection)  # a no-op when loaded; searches need it after a restart
    held_dimension = dimension(client, collection)
    if held_dimension != manifest.embed_dim:
        raise CorruptIndexError(f"{where} holds {held_dimension}-dim vectors, the manifest says {manifest.embed_dim}; {rebuild_hint}")
    held = count_passages(client, collection)
    if held != manifest.passages and not updating:
        raise CorruptIndexError(
            f"{where} holds {held} passages, the manifest in {config.index_dir} says {manifest.passages} "
            f"(changed by another process?); {rebuild_hint}"
        )
    bm25 = has_bm25(client, collection)
    if not bm25:
        log.warning("%s has no full-text (BM25) search: this Milvus is older than 2.5; retrieving with dense search only", where)
    return MilvusStore(manifest, client, collection, bm25)
