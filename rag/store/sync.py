"""Keep an index folder in step with a corpus: load its current build, embed only what changed,
change the store by document, publish the new build. Works the same for every store.

Dependencies point down: this module uses the folder (rag/store/folder.py) and the stores
(faiss_store, milvus_store); none of them imports it.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from rag.chunker import chunk
from rag.config import Config
from rag.embedder import Embedder, one_progress_bar
from rag.errors import CorruptIndexError, IndexFolderError, StaleIndexError
from rag.store.base import FORMAT_VERSION, Manifest, PassageStore, StoreWriter
from rag.store.faiss_store import FaissStore, FaissWriter, open_faiss, segments_named
from rag.store.folder import IndexFolder
from rag.store.segment import SEGMENTS
from rag.store.settings import check_compatible, read_manifest, rebuild_command, rebuild_hint, store_settings
from rag.types import Document

log = logging.getLogger(__name__)

# Documents are embedded and handed to the store this many characters of text at a time (~8,000
# passages of the default 400 characters, overlap included: a few minutes of embedding, ~12 MB of vectors).
_EMBED_BATCH_CHARS = 2_500_000


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
    if any(d.unread for d in new_docs) and read is None:
        raise ValueError("an unread document must be embedded, and sync_index was given no way to read it")
    writer = _writer(config, folder, previous, embedder.dimension, rebuild)  # refuses a foreign collection before embedding
    # Documents whose passages go: changed, deleted, or touched by an interrupted update.
    stale = (set(old_hashes) - unchanged) | (interrupted - unchanged)
    if config.store == "milvus":  # it changes in place: record what it is about to touch
        folder.mark_pending(stale | {d.doc_id for d in new_docs})
    writer.delete(sorted(stale))
    embedded = 0
    try:
        # A batch of documents at a time, read (if known only by their files' state), chunked,
        # embedded and handed to the store, so memory holds one batch, not the corpus's passages.
        batches = list(_batches(new_docs, _EMBED_BATCH_CHARS))
        # One bar over the documents when there are several batches (the embedder's own otherwise).
        with one_progress_bar(len(new_docs), "Indexing", "document") if len(batches) > 1 else nullcontext() as bar:
            for batch in batches:
                batch = [read(d) if d.unread and read else d for d in batch]  # read is given when needed (above)
                new_chunks = [c for d in batch for c in chunk(d, config.chunk_chars, config.chunk_overlap)]
                log.debug("embedding %d passages", len(new_chunks))
                vectors = np.asarray(embedder.embed([c.text for c in new_chunks]), dtype=np.float32).reshape(-1, embedder.dimension)
                writer.add(new_chunks, vectors)
                embedded += len(new_chunks)
                if bar is not None:
                    bar.update(len(batch))
        store = _publish(config, folder, writer, embedder, documents)
    except BaseException:
        _remove_unnamed_segments(folder)  # those written for this update
        raise
    _remove_unnamed_segments(folder)  # merged away
    report = UpdateReport(
        added=tuple(d.doc_id for d in documents if d.doc_id not in old_hashes),
        changed=tuple(d.doc_id for d in documents if d.doc_id in old_hashes and d.doc_id not in unchanged),
        deleted=tuple(sorted(set(old_hashes) - current)),
        unchanged=len(unchanged),
        passages_embedded=embedded,
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
    return FaissWriter(previous, folder.path / SEGMENTS, config.dense_index)


def _publish(config: Config, folder: IndexFolder, writer: StoreWriter, embedder: Embedder,
             documents: list[Document]) -> PassageStore:
    """Commit the writer's changes into a new build and publish it with its manifest."""
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        embed_model=embedder.name,
        embed_dim=embedder.dimension,
        chunk_chars=config.chunk_chars,
        chunk_overlap=config.chunk_overlap,
        documents={d.doc_id: d.content_hash for d in documents},
        passages=0,  # the writer counts them when it commits
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
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
    return store


def _remove_unnamed_segments(folder: IndexFolder) -> None:
    try:
        current = folder.current_build()
    except CorruptIndexError:
        return  # what the build names is unknown: keep every segment
    folder.remove_segments_except(segments_named(current))


def _batches(documents: list[Document], chars: int) -> Iterator[list[Document]]:
    """Consecutive runs of documents of about ``chars`` characters of text (their files' sizes when
    not read yet)."""
    batch: list[Document] = []
    size = 0
    for d in documents:
        batch.append(d)
        size += d.stat[0] if d.unread and d.stat else len(d.text)
        if size >= chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch
