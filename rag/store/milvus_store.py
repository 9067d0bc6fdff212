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
import json
import logging
import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.config import Config
from rag.errors import (
    ConfigError,
    CorruptIndexError,
    IndexFolderError,
    NotAnIndexError,
    first_line,
)
from rag.index import tokenize
from rag.store.base import Manifest, PassageStore, Scored, Vector
from rag.types import Chunk

if TYPE_CHECKING:
    from pymilvus import MilvusClient

log = logging.getLogger(__name__)

_INSERT_BATCH = 512  # rows per insert call: well under gRPC's message limit at 800-char passages
_FILTER_BATCH = 1000  # values per "in [...]" filter
_MAX_TEXT_BYTES = 65_535  # Milvus VARCHAR limit
_OUTPUT = ["doc_id", "chunk_index", "char_start", "char_end", "text"]
# Milvus analyses the text for BM25 itself; this is the closest match to rag's own BM25 tokens
# (lower-cased words, English stop words removed). Its IDF and defaults differ from bm25s, so BM25
# scores differ between the stores; rankings mostly agree (see tests/test_milvus_store.py).
# The stop words are listed rather than named ("_english_"): Milvus Lite does not expand the name.
def _analyzer() -> dict[str, Any]:
    from bm25s.stopwords import STOPWORDS_EN

    return {"tokenizer": "standard", "filter": ["lowercase", {"type": "stop", "stop_words": sorted(STOPWORDS_EN)}]}


TOKEN_ENV = "RAG_MILVUS_TOKEN"  # "user:password" or an API key for a server with authentication


def connect(config: Config) -> MilvusClient:
    """A client for ``config.milvus_uri``: a Lite file is opened (and created) in-process.

    Raises:
        ConfigError: pymilvus (or milvus-lite, for a .db file) is not installed.
        IndexFolderError: Milvus cannot be reached or the Lite file cannot be opened.
    """
    # gRPC's C core prints keep-alive chatter with Milvus Lite's server ("too_many_pings") on stderr.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise ConfigError("store = \"milvus\" needs pymilvus: pip install -e '.[milvus]'") from None
    uri = config.milvus_uri
    if uri.endswith(".db"):
        try:
            import milvus_lite  # noqa: F401
        except ImportError:
            raise ConfigError(f"a Milvus Lite file ({uri}) needs milvus-lite: pip install -e '.[milvus]'") from None
        Path(uri).expanduser().absolute().parent.mkdir(parents=True, exist_ok=True)
        # Lite's in-process gRPC server logs "Method not implemented" at ERROR for an RPC pymilvus
        # probes when creating a collection; the client copes, and the noise would reach stderr.
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
        # Lite logs a traceback when its file is taken; the error below says it in one line.
        logging.getLogger("milvus_lite.server_manager").setLevel(logging.CRITICAL)
    try:
        return MilvusClient(uri=uri, token=os.environ.get(TOKEN_ENV, ""))
    except Exception as err:  # pymilvus raises MilvusException, gRPC errors, or RuntimeError from Lite
        hint = (
            "; Milvus Lite lets one process open a file at a time: if rag serve or another rag command "
            "is using it, stop it, or use a Milvus server (store_uri = \"http://host:19530\")"
        ) if uri.endswith(".db") else ""
        raise IndexFolderError(f"cannot open Milvus at {uri}: {first_line(err)}{hint}") from None


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
        return _count(self._client, self._collection)

    def dense_search(self, query: Vector, k: int) -> Scored:
        found = self._client.search(
            self._collection, data=[_floats(query)], anns_field="vector", limit=k,
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
            held = _count(self._client, self._collection)
            if held and not folder_wrote_it and not rebuild:
                raise NotAnIndexError(
                    f"the Milvus collection {self._collection!r} at {config.milvus_uri} already holds {held} passages "
                    f"that the index folder {config.index_dir} did not write; set another milvus_collection, or "
                    f"replace it with: {rebuild_command}"
                )
        self._bm25 = _has_bm25(self._client, self._collection) if self._ready else True

    def delete(self, doc_ids: Collection[str]) -> None:
        self._ensure_collection()
        ids = sorted(doc_ids)
        for i in range(0, len(ids), _FILTER_BATCH):
            self._client.delete(self._collection, filter=f"doc_id in {_string_list(ids[i : i + _FILTER_BATCH])}")

    def add(self, chunks: Sequence[Chunk], vectors: Vector) -> None:
        self._ensure_collection()
        rows = []
        for c, v in zip(chunks, vectors, strict=True):
            if len(c.text.encode("utf-8")) > _MAX_TEXT_BYTES:
                raise ConfigError(
                    f"a passage of {c.doc_id} is over Milvus's {_MAX_TEXT_BYTES}-byte text limit; lower chunk_chars"
                )
            rows.append({"id": passage_id(c), "doc_id": c.doc_id, "chunk_index": c.chunk_index, "char_start": c.start,
                         "char_end": c.end, "text": c.text, "vector": _floats(v)})
        for i in range(0, len(rows), _INSERT_BATCH):
            self._client.insert(self._collection, rows[i : i + _INSERT_BATCH])

    def commit(self, manifest: Manifest, build: Path) -> PassageStore:
        """Flush the collection; the build folder stays empty (the passages are in Milvus)."""
        self._ensure_collection()
        self._client.flush(self._collection)
        manifest = dataclasses.replace(
            manifest, passages=_count(self._client, self._collection), store={**manifest.store, "bm25": self._bm25}
        )
        return MilvusStore(manifest, self._client, self._collection, self._bm25)

    def _ensure_collection(self) -> None:
        """On the first change of a fresh build: drop what the collection held, create it anew."""
        if self._ready:
            return
        if self._client.has_collection(self._collection):
            self._client.drop_collection(self._collection)
        self._bm25 = _create_collection(self._client, self._collection, self._dimension)
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
    dimension = _dimension(client, collection)
    if dimension != manifest.embed_dim:
        raise CorruptIndexError(f"{where} holds {dimension}-dim vectors, the manifest says {manifest.embed_dim}; {rebuild_hint}")
    held = _count(client, collection)
    if held != manifest.passages and not updating:
        raise CorruptIndexError(
            f"{where} holds {held} passages, the manifest in {config.index_dir} says {manifest.passages} "
            f"(changed by another process?); {rebuild_hint}"
        )
    bm25 = _has_bm25(client, collection)
    if not bm25:
        log.warning("%s has no full-text (BM25) search: this Milvus is older than 2.5; retrieving with dense search only", where)
    return MilvusStore(manifest, client, collection, bm25)


def _create_collection(client: MilvusClient, collection: str, dimension: int) -> bool:
    """Create the collection with BM25 full-text search if this Milvus has it; says whether it does."""
    try:
        client.create_collection(collection, schema=_schema(client, dimension, bm25=True),
                                 index_params=_index_params(client, bm25=True), consistency_level="Strong")
        return True
    except Exception as err:  # a Milvus before 2.5 rejects the BM25 function or the analyzer
        log.warning("Milvus at hand has no full-text (BM25) search (%s); the index will be dense only", first_line(err))
        if client.has_collection(collection):
            client.drop_collection(collection)
    client.create_collection(collection, schema=_schema(client, dimension, bm25=False),
                             index_params=_index_params(client, bm25=False), consistency_level="Strong")
    return False


def _schema(client: MilvusClient, dimension: int, bm25: bool) -> Any:
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=4096)
    schema.add_field("chunk_index", DataType.INT64)
    schema.add_field("char_start", DataType.INT64)
    schema.add_field("char_end", DataType.INT64)
    text_options = {"enable_analyzer": True, "analyzer_params": _analyzer()} if bm25 else {}
    schema.add_field("text", DataType.VARCHAR, max_length=_MAX_TEXT_BYTES, **text_options)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    if bm25:
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                     input_field_names=["text"], output_field_names=["sparse"]))
    return schema


def _index_params(client: MilvusClient, bm25: bool) -> Any:
    params = client.prepare_index_params()
    # FLAT: exact inner-product search, the same results as FAISS's flat index.
    params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    params.add_index(field_name="doc_id", index_type="INVERTED")
    if bm25:
        params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    return params


def _count(client: MilvusClient, collection: str) -> int:
    return int(client.query(collection, filter="", output_fields=["count(*)"])[0]["count(*)"])


def _fields(client: MilvusClient, collection: str) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in client.describe_collection(collection)["fields"]}


def _has_bm25(client: MilvusClient, collection: str) -> bool:
    return "sparse" in _fields(client, collection)


def _dimension(client: MilvusClient, collection: str) -> int:
    return int(_fields(client, collection)["vector"]["params"]["dim"])


def _string_list(values: Sequence[str]) -> str:
    """A Milvus expression list of string literals (JSON's escaping is Milvus's; Milvus Lite has
    no filter templates, so values are quoted here)."""
    return json.dumps(list(values), ensure_ascii=False)


def _floats(vector: Vector) -> list[float]:
    return np.asarray(vector, dtype=np.float32).tolist()

