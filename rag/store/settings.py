"""How a config names a store, in manifests and in the messages that tell users what to type."""

from __future__ import annotations

from typing import Any

from rag.config import Config


def store_settings(config: Config) -> dict[str, Any]:
    """The manifest's "store" entry for this config (without "bm25", which the store decides)."""
    if config.store == "milvus":
        return {"kind": "milvus", "uri": config.store_uri, "collection": config.milvus_collection}
    return {"kind": "faiss"}


def store_description(store: dict[str, Any]) -> str:
    if store.get("kind") == "milvus":
        return f"Milvus collection {store.get('collection')!r} at {store.get('uri') or 'the Lite file in the index folder'}"
    return "FAISS + BM25 files"


def store_flags(store: dict[str, Any]) -> str:
    """The command-line flags that select a store described in a manifest."""
    if store.get("kind") != "milvus":
        return "--store faiss"
    uri = f" --store-uri {store['uri']}" if store.get("uri") else ""
    default = Config.__dataclass_fields__["milvus_collection"].default
    collection = f" (and milvus_collection = \"{store.get('collection')}\" in rag.toml)" if store.get("collection") != default else ""
    return f"--store milvus{uri}{collection}"


def rebuild_command(config: Config) -> str:
    flags = f" --store milvus --store-uri {config.store_uri}" if config.store == "milvus" and config.store_uri else (
        " --store milvus" if config.store == "milvus" else "")
    return f"rag index --rebuild --corpus {config.corpus_dir} --index {config.index_dir}{flags}"


def rebuild_hint(config: Config) -> str:
    return f"rebuild it with: {rebuild_command(config)}"
