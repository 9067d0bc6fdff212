"""Keep an index folder in step with a corpus: load its current build, embed only what changed,
change the store by document, publish the new build. Works the same for every store.

Dependencies point down: this module uses the folder (rag/store/folder.py) and the stores
(faiss_store, milvus_store); none of them imports it.
"""

from __future__ import annotations

import errno
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rag.chunker import chunk
from rag.config import Config
from rag.embedder import Embedder
from rag.errors import CorruptIndexError, IndexFolderError, StaleIndexError, first_line
from rag.store.base import FORMAT_VERSION, Manifest, PassageStore, StoreWriter
from rag.store.faiss_store import FaissStore, FaissWriter, open_faiss
from rag.store.folder import MANIFEST, IndexFolder
from rag.store.settings import (
    rebuild_command,
    rebuild_hint,
    store_description,
    store_flags,
    store_settings,
)
from rag.types import Document

log = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class UpdateReport:
    """What an index build changed; all zero but ``unchanged`` when nothing did."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    unchanged: int = 0
    passages_embedded: int = 0
    seconds: float = 0.0

    @property
    def wrote_index(self) -> bool:
        return bool(self.added or self.changed or self.deleted)


def sync_index(
    config: Config, documents: list[Document], embedder: Embedder, rebuild: bool = False,
    read: Callable[[Document], Document] | None = None,
) -> tuple[PassageStore, UpdateReport]:
    """Load the index in ``config.index_dir``, building or updating it to match ``documents``.

    Only new or changed documents are embedded; deleted ones are dropped.

    Args:
        rebuild: Build from scratch even if the index was made with other settings or is damaged.
        read: Reads an ``unread`` document (one known by its file's size and mtime) when its text
            is needed after all: a rebuild, or an interrupted update that touched it.

    Raises:
        NotAnIndexError: The folder holds files that are not a rag index.
        StaleIndexError: The index was built with another embedder or chunker settings.
        CorruptIndexError: The index is damaged.
    """
    folder = IndexFolder(Path(config.index_dir))
    previous = None if rebuild else load_index(config, embedder.name, updating=True)
    interrupted = folder.pending()
    if (
        previous is not None
        and not interrupted
        and previous.manifest.documents == {d.doc_id: d.content_hash for d in documents}
        and previous.manifest.document_info == document_info(documents)
    ):
        return previous, UpdateReport(unchanged=len(documents))
    try:
        if previous is None:
            folder.claim()
        with folder.exclusive():
            return _update(config, folder, documents, embedder, previous, interrupted, rebuild, read)
    except OSError as err:
        full = err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        hint = "; free some space and run it again (the index is as it was before)" if full else ""
        raise IndexFolderError(f"cannot write the index in {folder.path}: {err.strerror or err}{hint}") from err


def load_index(config: Config, embed_model: str, updating: bool = False) -> PassageStore | None:
    """The store of the current build in ``config.index_dir``, or None when there is none yet.

    Args:
        updating: The caller is about to update the index, so an interrupted Milvus update
            (which the update repairs) is not an error.

    Raises:
        NotAnIndexError, StaleIndexError, CorruptIndexError: As for :func:`sync_index`.
    """
    folder = IndexFolder(Path(config.index_dir))
    folder.refuse_foreign()

    def load(build: Path) -> PassageStore:
        manifest = read_manifest(build, config)
        check_compatible(manifest, config, embed_model)
        if not updating and folder.pending():
            raise StaleIndexError(
                f"an update of the index in {folder.path} was interrupted; finish it with: "
                f"rag index --corpus {config.corpus_dir} --index {folder.path}"
            )
        return open_build(build, manifest, config, updating)

    return folder.read_current(load)


def open_build(build: Path, manifest: Manifest, config: Config, updating: bool = False) -> PassageStore:
    """The store a build's manifest describes, checked against it."""
    if manifest.store.get("kind") == "milvus":
        from rag.store.milvus_store import (
            open_milvus,  # pymilvus only for those who use it
        )

        return open_milvus(config, manifest, rebuild_hint(config), updating)
    return open_faiss(build, manifest, rebuild_hint(config))


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


def document_info(documents: list[Document]) -> dict[str, dict[str, Any]]:
    return {d.doc_id: {"title": d.title, "date": d.date, "page_starts": list(d.page_starts)} for d in documents}


def _update(
    config: Config, folder: IndexFolder, documents: list[Document], embedder: Embedder, previous: PassageStore | None,
    interrupted: set[str], rebuild: bool, read: Callable[[Document], Document] | None = None,
) -> tuple[PassageStore, UpdateReport]:
    """Embed what is new, then delete and add by document in the store, then publish the manifest."""
    started = time.perf_counter()
    old_hashes = previous.manifest.documents if previous else {}
    current = {d.doc_id for d in documents}
    if "*" in interrupted:
        interrupted = set(old_hashes) | current
    unchanged = {d.doc_id for d in documents if old_hashes.get(d.doc_id) == d.content_hash and d.doc_id not in interrupted}
    new_docs = [d for d in documents if d.doc_id not in unchanged]
    if any(d.unread for d in new_docs):
        if read is None:
            raise ValueError("an unread document must be embedded, and sync_index was given no way to read it")
        new_docs = [read(d) if d.unread else d for d in new_docs]
    writer = _writer(config, folder, previous, embedder.dimension, rebuild)  # refuses a foreign collection before embedding
    new_chunks = [c for d in new_docs for c in chunk(d, config.chunk_chars, config.chunk_overlap)]
    log.debug("embedding %d passages", len(new_chunks))
    vectors = np.asarray(embedder.embed([c.text for c in new_chunks]), dtype=np.float32).reshape(-1, embedder.dimension)
    # Documents whose passages go: changed, deleted, or touched by an interrupted update.
    stale = (set(old_hashes) - unchanged) | (interrupted - unchanged)
    if config.store == "milvus":  # it changes in place: record what it is about to touch
        folder.mark_pending(stale | {d.doc_id for d in new_docs})
    writer.delete(sorted(stale))
    writer.add(new_chunks, vectors)
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        embed_model=embedder.name,
        embed_dim=embedder.dimension,
        chunk_chars=config.chunk_chars,
        chunk_overlap=config.chunk_overlap,
        documents={d.doc_id: d.content_hash for d in documents},
        passages=0,  # the writer counts them when it commits
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        document_info=document_info(documents),
        dense_index=config.dense_index,
        store=store_settings(config),
    )
    # A build that fails half-way (a full disk, a path FAISS cannot write) is removed at once, so a
    # rerun after the fault is fixed starts from the previous build, as after `kill -9`.
    build = folder.new_build()
    try:
        store = writer.commit(manifest, build)
        folder.publish(build, store.manifest)
    except BaseException:
        folder.discard_unpublished(build)
        raise
    report = UpdateReport(
        added=tuple(d.doc_id for d in documents if d.doc_id not in old_hashes),
        changed=tuple(d.doc_id for d in documents if d.doc_id in old_hashes and d.doc_id not in unchanged),
        deleted=tuple(sorted(set(old_hashes) - current)),
        unchanged=len(unchanged),
        passages_embedded=len(new_chunks),
        seconds=time.perf_counter() - started,
    )
    log.debug("index: %d passages from %d documents in %.1fs", store.count(), len(documents), report.seconds)
    return store, report


def _writer(config: Config, folder: IndexFolder, previous: PassageStore | None, dimension: int, rebuild: bool) -> StoreWriter:
    if config.store == "milvus":
        from rag.store.milvus_store import MilvusWriter

        return MilvusWriter(config, dimension, previous is None, rebuild, rebuild_command(config),
                            folder_wrote_it=folder.has_builds())
    assert previous is None or isinstance(previous, FaissStore)
    return FaissWriter(previous)
