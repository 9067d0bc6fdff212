"""Talking to Milvus: connect (Lite file or server), the collection's schema and indexes, small queries.

Needs the optional extra: ``pip install -e '.[milvus]'`` (pymilvus and milvus-lite).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.config import Config
from rag.errors import ConfigError, IndexFolderError, first_line
from rag.store.base import Vector

if TYPE_CHECKING:
    from pymilvus import MilvusClient

log = logging.getLogger(__name__)

MAX_TEXT_BYTES = 65_535  # Milvus VARCHAR limit


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


def create_collection(client: MilvusClient, collection: str, dimension: int) -> bool:
    """Create the collection with BM25 full-text search if this Milvus has it; says whether it does."""
    try:
        client.create_collection(collection, schema=_schema(client, dimension, bm25=True),
                                 index_params=_index_params(client, bm25=True), consistency_level="Strong")
        return True
    except Exception as err:  # a Milvus before 2.5 rejects the BM25 function or the analyzer
        log.warning("Milvus at hand has no full-text (BM25) search (%s); the index will be dense only", first_line(err))
        if client.has_collection(collection):
            client.drop_collection(collection)
    # The index on doc_id (for deletes by document) is INVERTED where the server has it; Milvus 2.3
    # has only Trie for text, and without either index a delete by filter still works, only slower.
    for doc_id_index in ("INVERTED", "Trie", None):
        try:
            client.create_collection(collection, schema=_schema(client, dimension, bm25=False),
                                     index_params=_index_params(client, bm25=False, doc_id_index=doc_id_index),
                                     consistency_level="Strong")
            return False
        except Exception as err:
            if doc_id_index is None:
                raise
            log.debug("Milvus refused a %s index on doc_id (%s)", doc_id_index, first_line(err))
            if client.has_collection(collection):
                client.drop_collection(collection)
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
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES, **text_options)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    if bm25:
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                     input_field_names=["text"], output_field_names=["sparse"]))
    return schema


def _index_params(client: MilvusClient, bm25: bool, doc_id_index: str | None = "INVERTED") -> Any:
    params = client.prepare_index_params()
    # FLAT: exact inner-product search, the same results as FAISS's flat index.
    params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    if doc_id_index:
        params.add_index(field_name="doc_id", index_type=doc_id_index)
    if bm25:
        params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    return params


def count_passages(client: MilvusClient, collection: str) -> int:
    return int(client.query(collection, filter="", output_fields=["count(*)"])[0]["count(*)"])


def _fields(client: MilvusClient, collection: str) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in client.describe_collection(collection)["fields"]}


def has_bm25(client: MilvusClient, collection: str) -> bool:
    return "sparse" in _fields(client, collection)


def dimension(client: MilvusClient, collection: str) -> int:
    return int(_fields(client, collection)["vector"]["params"]["dim"])


def string_list(values: Sequence[str]) -> str:
    """A Milvus expression list of string literals (JSON's escaping is Milvus's; Milvus Lite has
    no filter templates, so values are quoted here)."""
    return json.dumps(list(values), ensure_ascii=False)


def floats(vector: Vector) -> list[float]:
    return np.asarray(vector, dtype=np.float32).tolist()
