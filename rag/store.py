"""The index folder on disk: versioned builds, a manifest, atomic switch-over, incremental updates.

Layout of ``index_dir``::

    .rag-index          marker: this folder belongs to rag (written before anything else)
    CURRENT             the name of the complete build to load, replaced last with os.replace
    build-<stamp>/      manifest.json (written last), passages.jsonl, dense.faiss, bm25/
    milvus.db           the Milvus Lite file, when store = "milvus" and store_uri is ""
    PENDING             Milvus only: the documents an unfinished update was changing

A build that is interrupted leaves a folder that CURRENT never names, so it is never loaded. With
Milvus the passages live in the collection and a build folder holds only the manifest; Milvus
applies each change at once, so PENDING names the documents to redo if an update is interrupted.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rag.chunker import chunk
from rag.config import Config
from rag.embedder import Embedder
from rag.errors import CorruptIndexError, IndexBusyError, IndexFolderError, NotAnIndexError, StaleIndexError
from rag.index import Bm25Index, DenseIndex, top_rows
from rag.model_paths import embedder_location
from rag.passage_store import PassageStore, Scored, StoreWriter, Vector
from rag.types import Chunk, Document, DocumentInfo

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: the manifest keeps each document's title, date and page offsets
MARKER = ".rag-index"
POINTER = "CURRENT"
MANIFEST = "manifest.json"
LOCK = ".lock"
PENDING = "PENDING"


@dataclass(frozen=True, slots=True)
class Manifest:
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


@dataclass(frozen=True, slots=True)
class PassageIndex:
    """The FAISS + BM25 store, loaded: passage i is ``chunks[i]``, row i of ``dense`` and document
    i of ``bm25``. Passage ids are row numbers. Implements :class:`rag.passage_store.PassageStore`."""

    manifest: Manifest
    chunks: tuple[Chunk, ...]
    dense: DenseIndex
    bm25: Bm25Index
    # The last question's BM25 scores of every passage: lexical_search and lexical_scores for
    # the same question (one retrieve) score the corpus once.
    _last_scores: list[tuple[str, Any]] = field(default_factory=lambda: [("", None)], compare=False, repr=False)

    @property
    def supports_lexical(self) -> bool:
        return True

    def count(self) -> int:
        return len(self.chunks)

    def dense_search(self, query: Vector, k: int) -> Scored:
        return self.dense.search(query, k)

    def lexical_search(self, question: str, k: int) -> Scored:
        return top_rows(self._bm25_scores(question), k)

    def passages(self, ids: Sequence[int]) -> list[Chunk]:
        return [self.chunks[i] for i in ids]

    def cosines(self, query: Vector, ids: Sequence[int]) -> list[float]:
        return self.dense.similarity(query, list(ids))

    def lexical_scores(self, question: str, ids: Sequence[int]) -> list[float]:
        scores = self._bm25_scores(question)
        return [float(scores[i]) for i in ids]

    def save_parts(self, build: Path) -> None:
        """Write passages.jsonl, dense.faiss and bm25/ into a build folder."""
        with open(build / "passages.jsonl", "w", encoding="utf-8") as f:
            for c in self.chunks:
                f.write(json.dumps({"doc_id": c.doc_id, "chunk_index": c.chunk_index, "start": c.start, "end": c.end,
                                    "text": c.text}, ensure_ascii=False) + "\n")
        self.dense.save(build / "dense.faiss")
        self.bm25.save(build / "bm25")

    def _bm25_scores(self, question: str) -> Any:
        asked, scores = self._last_scores[0]
        if scores is None or asked != question:
            scores = self.bm25.scores(question)
            self._last_scores[0] = (question, scores)  # one tuple: threads never see a mixed pair
        return scores


class FaissWriter:
    """Collects a FAISS build: the previous build's passages and vectors, minus deleted documents,
    plus added ones; :meth:`commit` builds both indexes and writes them as a new build folder."""

    def __init__(self, config: Config, previous: PassageIndex | None) -> None:
        self._config = config
        self._passages: dict[str, list[tuple[Chunk, Vector]]] = {}
        if previous is not None:
            vectors = previous.dense.vectors()
            for row, c in enumerate(previous.chunks):
                self._passages.setdefault(c.doc_id, []).append((c, vectors[row]))

    def delete(self, doc_ids: Collection[str]) -> None:
        for doc_id in doc_ids:
            self._passages.pop(doc_id, None)

    def add(self, chunks: Sequence[Chunk], vectors: Vector) -> None:
        for c, v in zip(chunks, vectors, strict=True):
            self._passages.setdefault(c.doc_id, []).append((c, v))

    def commit(self, manifest: Manifest) -> PassageIndex:
        # Rows follow the corpus's document order, whatever order the changes came in.
        pairs = [pair for doc_id in manifest.documents for pair in self._passages.get(doc_id, [])]
        dim = manifest.embed_dim
        vectors = np.asarray([v for _, v in pairs], dtype=np.float32).reshape(-1, dim)
        chunks = tuple(c for c, _ in pairs)
        manifest = dataclasses.replace(manifest, passages=len(chunks))
        index = PassageIndex(manifest, chunks, DenseIndex.build(vectors, kind=manifest.dense_index),
                             Bm25Index.build([c.text for c in chunks]))
        _write_build(Path(self._config.index_dir), manifest, index.save_parts)
        return index


def sync_index(config: Config, documents: list[Document], embedder: Embedder, rebuild: bool = False) -> tuple[PassageStore, UpdateReport]:
    """Load the index in ``config.index_dir``, building or updating it to match ``documents``.

    Only new or changed documents are embedded; deleted ones are dropped.

    Args:
        rebuild: Build from scratch even if the index was made with other settings or is damaged.

    Raises:
        NotAnIndexError: The folder holds files that are not a rag index.
        StaleIndexError: The index was built with another embedder or chunker settings.
        CorruptIndexError: The index is damaged.
    """
    index_dir = Path(config.index_dir)
    previous = None if rebuild else load_index(config, embedder.name, updating=True)
    interrupted = _pending(index_dir)
    if (
        previous is not None
        and not interrupted
        and previous.manifest.documents == {d.doc_id: d.content_hash for d in documents}
        and previous.manifest.document_info == _document_info(documents)
    ):
        return previous, UpdateReport(unchanged=len(documents))
    try:
        if previous is None:
            _claim_folder(index_dir)
        with _exclusive(index_dir):
            return _update(config, documents, embedder, previous, interrupted, rebuild)
    except OSError as err:
        raise IndexFolderError(f"cannot write the index in {index_dir}: {err.strerror or err}") from err


def load_index(config: Config, embed_model: str, updating: bool = False) -> PassageStore | None:
    """The current build in ``config.index_dir``, or None when there is none yet.

    Args:
        updating: The caller is about to update the index, so an interrupted Milvus update
            (which the update repairs) is not an error.

    Raises:
        NotAnIndexError, StaleIndexError, CorruptIndexError: As for :func:`sync_index`.
    """
    index_dir = Path(config.index_dir)
    _refuse_foreign_folder(index_dir)
    if not index_dir.exists() or not any(index_dir.iterdir()):
        return None
    if not (index_dir / POINTER).is_file():
        return None  # claimed, but no build finished yet
    build = index_dir / (index_dir / POINTER).read_text(encoding="utf-8").strip()
    manifest = _read_manifest(build, config)
    _check_compatible(manifest, config, embed_model)
    if not updating and _pending(index_dir):
        raise StaleIndexError(
            f"an update of the index in {index_dir} was interrupted; finish it with: "
            f"rag index --corpus {config.corpus_dir} --index {index_dir}"
        )
    return _read_build(build, manifest, config, updating)


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """What `rag status` reports: the index on disk against the corpus as it is now."""

    index_dir: str
    built: bool
    embed_model: str | None = None
    documents: int = 0
    passages: int = 0
    built_at: str | None = None
    added: tuple[str, ...] = ()  # in the corpus, not in the index
    changed: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()  # in the index, gone from the corpus
    store: str = "faiss"  # where the passages are: "faiss" or "milvus"

    @property
    def up_to_date(self) -> bool:
        return self.built and not (self.added or self.changed or self.deleted)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index_dir, "built": self.built, "embed_model": self.embed_model, "documents": self.documents,
            "passages": self.passages, "built_at": self.built_at, "up_to_date": self.up_to_date,
            "added": list(self.added), "changed": list(self.changed), "deleted": list(self.deleted),
            "store": self.store,
        }


def index_status(config: Config, documents: list[Document]) -> IndexStatus:
    """Check the current build (no model is loaded) and compare its manifest with ``documents``.

    Raises:
        NotAnIndexError, StaleIndexError, CorruptIndexError: The folder is not a usable index.
    """
    index_dir = Path(config.index_dir)
    _refuse_foreign_folder(index_dir)
    pointer = index_dir / POINTER
    if not pointer.is_file():
        return IndexStatus(str(index_dir), built=False, added=tuple(d.doc_id for d in documents), store=config.store)
    build = index_dir / pointer.read_text(encoding="utf-8").strip()
    manifest = _read_manifest(build, config)
    _check_compatible(manifest, config, embedder_location(config.embed_model)[0])
    _read_build(build, manifest, config)  # damaged parts are an error here too, not a status line
    interrupted = _pending(index_dir)
    now = {d.doc_id: d.content_hash for d in documents}
    return IndexStatus(
        str(index_dir), True, manifest.embed_model, len(manifest.documents), manifest.passages, manifest.built_at,
        added=tuple(sorted(set(now) - set(manifest.documents))),
        changed=tuple(sorted(d for d in now if d in manifest.documents and (manifest.documents[d] != now[d] or d in interrupted))),
        deleted=tuple(sorted(set(manifest.documents) - set(now))),
        store=manifest.store.get("kind", "faiss"),
    )


def _rebuild_hint(config: Config) -> str:
    return f"rebuild it with: {_rebuild_command(config)}"


def _read_manifest(build: Path, config: Config) -> Manifest:
    try:
        raw = json.loads((build / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("the manifest is not a JSON object")
        if raw.get("format_version") != FORMAT_VERSION:
            raise StaleIndexError(
                f"the index in {build.parent} has format version {raw.get('format_version')!r}; "
                f"this rag reads version {FORMAT_VERSION}; {_rebuild_hint(config)}"
            )
        return Manifest(**raw)
    except (OSError, ValueError, TypeError) as err:
        raise CorruptIndexError(f"the index in {build.parent} is damaged ({_reason(err)}); {_rebuild_hint(config)}") from None


def _check_compatible(manifest: Manifest, config: Config, embed_model: str) -> None:
    built_store, wanted_store = _store_description(manifest.store), _store_description(_store_settings(config))
    if built_store != wanted_store:
        raise StaleIndexError(
            f"the index in {config.index_dir} keeps its passages in {built_store}, but the config asks for "
            f"{wanted_store}; to use it, pass {_store_flags(manifest.store)}; or {_rebuild_hint(config)}"
        )
    built = (manifest.embed_model, manifest.chunk_chars, manifest.chunk_overlap, manifest.dense_index)
    wanted = (embed_model, config.chunk_chars, config.chunk_overlap, config.dense_index)
    if built != wanted:
        raise StaleIndexError(
            f"the index in {config.index_dir} was built with embedder {manifest.embed_model!r}, "
            f"chunks of {manifest.chunk_chars}/{manifest.chunk_overlap} chars, a {manifest.dense_index} dense index, "
            f"but the config asks for {embed_model!r}, {config.chunk_chars}/{config.chunk_overlap}, "
            f"{config.dense_index}; {_rebuild_hint(config)}"
        )


def _store_settings(config: Config) -> dict[str, Any]:
    """The manifest's "store" entry for this config (without "bm25", which the store decides)."""
    if config.store == "milvus":
        return {"kind": "milvus", "uri": config.store_uri, "collection": config.milvus_collection}
    return {"kind": "faiss"}


def _store_description(store: dict[str, Any]) -> str:
    if store.get("kind") == "milvus":
        return f"Milvus collection {store.get('collection')!r} at {store.get('uri') or 'the Lite file in the index folder'}"
    return "FAISS + BM25 files"


def _store_flags(store: dict[str, Any]) -> str:
    """The command-line flags that select a store described in a manifest."""
    if store.get("kind") != "milvus":
        return "--store faiss"
    uri = f" --store-uri {store['uri']}" if store.get("uri") else ""
    default = Config.__dataclass_fields__["milvus_collection"].default
    collection = f" (and milvus_collection = \"{store.get('collection')}\" in rag.toml)" if store.get("collection") != default else ""
    return f"--store milvus{uri}{collection}"


def _rebuild_command(config: Config) -> str:
    flags = f" --store milvus --store-uri {config.store_uri}" if config.store == "milvus" and config.store_uri else (
        " --store milvus" if config.store == "milvus" else "")
    return f"rag index --rebuild --corpus {config.corpus_dir} --index {config.index_dir}{flags}"


def _read_build(build: Path, manifest: Manifest, config: Config, updating: bool = False) -> PassageStore:
    if manifest.store.get("kind") == "milvus":
        from rag.milvus_store import open_store

        return open_store(config, manifest, _rebuild_hint(config), updating)
    try:
        with open(build / "passages.jsonl", encoding="utf-8") as f:
            chunks = tuple(Chunk(**json.loads(line)) for line in f)
        dense = DenseIndex.load(build / "dense.faiss")
        bm25 = Bm25Index.load(build / "bm25")
        sizes = {len(chunks), manifest.passages, dense.size, bm25.size}
        if len(sizes) != 1 or dense.dimension != manifest.embed_dim:
            raise ValueError("its parts disagree on the number of passages")
        if dense.kind != manifest.dense_index:
            raise ValueError(f"the manifest says a {manifest.dense_index} dense index, the file holds {dense.kind}")
        if any(c.text and len(c.text) != c.end - c.start for c in chunks):
            raise ValueError("passage offsets do not match passage texts")
    except Exception as err:  # FAISS raises RuntimeError, bm25s and json raise several kinds
        raise CorruptIndexError(
            f"the index in {build.parent} is damaged ({_reason(err)}); {_rebuild_hint(config)}"
        ) from None
    return PassageIndex(manifest, chunks, dense, bm25)


def _reason(err: BaseException) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0][:200]


def _refuse_foreign_folder(index_dir: Path) -> None:
    if index_dir.exists() and not index_dir.is_dir():
        raise NotAnIndexError(f"{index_dir} is a file, not an index folder; pass --index with a new or empty folder")
    if index_dir.exists() and any(index_dir.iterdir()) and not (index_dir / MARKER).is_file():
        raise NotAnIndexError(
            f"{index_dir} is not empty and is not a rag index; rag will not write into it. "
            "Pass --index with a new or empty folder"
        )


@contextmanager
def _exclusive(index_dir: Path) -> Iterator[None]:
    """Hold the index folder's write lock; a second writer is refused at once, with a message.

    The lock is an OS file lock (released even if the holder is killed), not the file's existence.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here; concurrent writers are the user's to avoid
        yield
        return
    with open(index_dir / LOCK, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise IndexBusyError(
                f"the index in {index_dir} is being updated by {holder}; wait for it to finish, then run rag index again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"rag (pid {os.getpid()})\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _claim_folder(index_dir: Path) -> None:
    _refuse_foreign_folder(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(index_dir / MARKER, json.dumps({"format_version": FORMAT_VERSION}) + "\n")


def _update(
    config: Config, documents: list[Document], embedder: Embedder, previous: PassageStore | None,
    interrupted: set[str], rebuild: bool,
) -> tuple[PassageStore, UpdateReport]:
    """Embed what is new, then delete and add by document in the store, then commit the manifest."""
    started = time.perf_counter()
    old_hashes = previous.manifest.documents if previous else {}
    current = {d.doc_id for d in documents}
    if "*" in interrupted:
        interrupted = set(old_hashes) | current
    unchanged = {d.doc_id for d in documents if old_hashes.get(d.doc_id) == d.content_hash and d.doc_id not in interrupted}
    new_docs = [d for d in documents if d.doc_id not in unchanged]
    writer = _writer(config, previous, embedder.dimension, rebuild)  # refuses a foreign collection before embedding
    new_chunks = [c for d in new_docs for c in chunk(d, config.chunk_chars, config.chunk_overlap)]
    log.debug("embedding %d passages", len(new_chunks))
    vectors = np.asarray(embedder.embed([c.text for c in new_chunks]), dtype=np.float32).reshape(-1, embedder.dimension)
    # Documents whose passages go: changed, deleted, or touched by an interrupted update.
    stale = (set(old_hashes) - unchanged) | (interrupted - unchanged)
    _mark_pending(Path(config.index_dir), config, stale | {d.doc_id for d in new_docs})
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
        document_info=_document_info(documents),
        dense_index=config.dense_index,
        store=_store_settings(config),
    )
    index = writer.commit(manifest)
    report = UpdateReport(
        added=tuple(d.doc_id for d in documents if d.doc_id not in old_hashes),
        changed=tuple(d.doc_id for d in documents if d.doc_id in old_hashes and d.doc_id not in unchanged),
        deleted=tuple(sorted(set(old_hashes) - current)),
        unchanged=len(unchanged),
        passages_embedded=len(new_chunks),
        seconds=time.perf_counter() - started,
    )
    log.debug("index: %d passages from %d documents in %.1fs", index.count(), len(documents), report.seconds)
    return index, report


def _writer(config: Config, previous: PassageStore | None, dimension: int, rebuild: bool) -> StoreWriter:
    if config.store == "milvus":
        from rag.milvus_store import MilvusWriter

        return MilvusWriter(config, dimension, previous is None, rebuild, _rebuild_command(config))
    assert previous is None or isinstance(previous, PassageIndex)
    return FaissWriter(config, previous)


def _document_info(documents: list[Document]) -> dict[str, dict[str, Any]]:
    return {d.doc_id: {"title": d.title, "date": d.date, "page_starts": list(d.page_starts)} for d in documents}


def _write_build(index_dir: Path, manifest: Manifest, write_parts: Callable[[Path], None]) -> None:
    """Write a new build folder (its parts, then the manifest) and point CURRENT at it."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    name = f"build-{stamp}-{uuid.uuid4().hex[:8]}"
    build = index_dir / name
    build.mkdir()
    write_parts(build)
    raw = {f: getattr(manifest, f) for f in Manifest.__dataclass_fields__}
    # The manifest is written last within the build, and the pointer after it: a reader
    # sees the old complete build or the new one, never a half-written one.
    _write_atomic(build / MANIFEST, json.dumps(raw, indent=2, sort_keys=True) + "\n")
    _write_atomic(index_dir / POINTER, name + "\n")
    (index_dir / PENDING).unlink(missing_ok=True)
    _remove_other_builds(index_dir, keep=name)


def _pending(index_dir: Path) -> set[str]:
    """The documents an interrupted Milvus update was changing (empty when none was)."""
    try:
        return set(json.loads((index_dir / PENDING).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError, TypeError):
        return {"*"}  # unreadable: redo everything


def _mark_pending(index_dir: Path, config: Config, doc_ids: set[str]) -> None:
    """Before Milvus changes anything, record which documents it will touch (FAISS needs no record:
    its changes stay in a build folder that CURRENT does not name until the end)."""
    if config.store == "milvus":
        _write_atomic(index_dir / PENDING, json.dumps(sorted(doc_ids | _pending(index_dir))) + "\n")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _remove_other_builds(index_dir: Path, keep: str) -> None:
    for old in index_dir.glob("build-*"):
        if old.name != keep and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
