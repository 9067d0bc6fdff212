"""How a config names a store, in manifests and in the messages that tell users what to type, and
whether a build's manifest fits the config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rag.config import Config
from rag.errors import CorruptIndexError, StaleIndexError, first_line
from rag.store.base import FORMAT_VERSION, Manifest
from rag.store.folder import MANIFEST


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


def read_manifest(build: Path, config: Config) -> Manifest:
    try:
        raw = json.loads((build / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("the manifest is not a JSON object")
        if raw.get("format_version") != FORMAT_VERSION:
            raise StaleIndexError(
                f"the index in {build.parent} has format version {raw.get('format_version')!r}; "
                f"this rag reads version {FORMAT_VERSION}; {rebuild_hint(config)}"
            )
        return Manifest.from_json(raw)
    except (OSError, ValueError, TypeError) as err:
        raise CorruptIndexError(f"the index in {build.parent} is damaged ({first_line(err)}); {rebuild_hint(config)}") from err


def check_compatible(manifest: Manifest, config: Config, embed_model: str) -> None:
    built_store, wanted_store = store_description(manifest.store), store_description(store_settings(config))
    if built_store != wanted_store:
        raise StaleIndexError(
            f"the index in {config.index_dir} keeps its passages in {built_store}, but the config asks for "
            f"{wanted_store}; to use it, pass {store_flags(manifest.store)}; or {rebuild_hint(config)}"
        )
    built = (manifest.embed_model, manifest.chunk_chars, manifest.chunk_overlap, manifest.dense_index)
    wanted = (embed_model, config.chunk_chars, config.chunk_overlap, config.dense_index)
    if built != wanted:
        raise StaleIndexError(
            f"the index in {config.index_dir} was built with embedder {manifest.embed_model!r}, "
            f"chunks of {manifest.chunk_chars}/{manifest.chunk_overlap} chars, a {manifest.dense_index} dense index, "
            f"but the config asks for {embed_model!r}, {config.chunk_chars}/{config.chunk_overlap}, "
            f"{config.dense_index}; {rebuild_hint(config)}"
        )
