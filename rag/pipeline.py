"""The Pipeline: corpus -> chunks -> index -> retriever -> reader -> answer, with models loaded once.

Longer than most because it is the one facade every door goes through (the CLI, the web chat,
Python): loading the index, keeping answers to files as they are now, answering, uploads.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import warnings
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from rag.answer import decide
from rag.calibration import Scorer, scorer_for
from rag.config import RETRIEVAL_MODES, Config, RetrievalMode, load_config
from rag.corpus import UPLOADS_PREFIX, load_documents, read_document, read_within_limits, scan_files
from rag.embedder import Embedder, make_embedder
from rag.errors import (
    ConfigError,
    CorpusError,
    IndexBusyError,
    StaleIndexError,
)
from rag.questions import check_question, check_top_k
from rag.reader import ExtractiveReader
from rag.retriever import IndexRetriever
from rag.store import (
    IndexStatus,
    PassageStore,
    UpdateReport,
    index_status,
    load_index,
    sync_index,
)
from rag.store.known import known_documents, record_file_states
from rag.types import Answer, Chunk, Document, DocumentInfo, Hit
from rag.uploads import list_uploads, remove_upload, saved_upload

log = logging.getLogger(__name__)



class Pipeline:
    """Question answering over one corpus folder. Cheap to build; the first question loads the models.

    Example:
        >>> qa = Pipeline.from_folder("seeds")
        >>> answer = qa.ask("Where did the two defense ministers meet?")
        >>> answer.text, answer.citations[0].doc_id
    """

    def __init__(
        self, config: Config | None = None, embedder: Embedder | None = None, reader: ExtractiveReader | None = None,
        scorer: Scorer | None = None,
    ) -> None:
        """Args:
            embedder, reader: Already-loaded models to share between pipelines (by default each
                pipeline loads its own on first use).
            scorer: How answers are ranked and calibrated (by default from the config and the
                reader's calibration.json).
        """
        self.config = config or Config()
        self._embedder = embedder
        self._reader = reader
        self._scorer = scorer
        self._store: PassageStore | None = None
        self._lock = threading.Lock()
        # Each indexed file's (size, mtime) as the current build read it: a hit from a file that
        # differs now is never quoted (its offsets index the old text).
        self._indexed_stats: dict[str, tuple[int, int] | None] = {}
        self._scanned: dict[str, tuple[int, int]] = {}  # every file's, read or skipped, at that update
        # Called with the ids of changed files a question met, instead of updating the index
        # before answering (the web chat's watcher updates it in the background; rag/watch.py).
        self.on_stale: Callable[[set[str]], None] | None = None

    @classmethod
    def from_folder(cls, folder: str | Path, config: Config | None = None, **settings: Any) -> Pipeline:
        """A pipeline over ``folder``; settings (e.g. ``top_k=3``) override ``config``.

        Without ``config``, settings are read from ``rag.toml`` in the current working directory when
        one is there (as the CLI does), then the defaults; pass ``config=Config()`` to ignore it.
        """
        if config is None:
            return cls(load_config(corpus_dir=Path(folder), **settings))
        try:
            return cls(dataclasses.replace(config, corpus_dir=Path(folder), **settings))
        except TypeError as err:  # an unknown setting name
            raise ConfigError(f"unknown setting: {err}") from None

    @cached_property
    def embedder(self) -> Embedder:
        return self._embedder or make_embedder(self.config)

    @cached_property
    def reader(self) -> ExtractiveReader:
        return self._reader or ExtractiveReader(self.config)

    @cached_property
    def scorer(self) -> Scorer:
        """How answers are ranked and their confidence calibrated, for this config and reader."""
        return self._scorer or scorer_for(self.config, self.reader.location)

    def index(self, rebuild: bool = False, rehash: bool = False) -> UpdateReport:
        """Build the index, or bring it up to date with the corpus (only changed files are embedded).

        Only files whose size or modification time changed since the index read them are read
        (rag/store/known.py); ``rehash`` reads every file, ``rebuild`` rebuilds from scratch.
        """
        with self._lock:
            scanned_at = time.time_ns()
            scanned: dict[str, tuple[int, int]] = {}  # each file's state before it is read
            documents = self._documents(trust_file_states=not (rebuild or rehash), seen=scanned)
            self._store, report = sync_index(self.config, documents, self.embedder, rebuild=rebuild, read=self._read)
            self._indexed_stats, self._scanned = {d.doc_id: d.stat for d in documents}, scanned
            record_file_states(self.config, documents, scanned_at)
            return report

    def open(self) -> UpdateReport | None:
        """Load the index as a question would, and say what that wrote.

        With ``auto_update`` the index is first brought up to date with the corpus; while another
        process (``rag index``, a web upload) is updating it, the build that is current now answers,
        with a warning. Without ``auto_update`` nothing is written (a replica on a read-only volume):
        the index is loaded as it is, and a corpus changed since its build is refused.

        Returns:
            The update made, or None when nothing was written.
        Raises:
            StaleIndexError: ``auto_update`` is off and the index is missing or out of date.
        """
        if not self.config.auto_update:
            self._store = self._load_unchanged()
            return None
        try:
            return self.index()
        except IndexBusyError:
            store = load_index(self.config, self.embedder.name)
            if store is None:
                raise
            log.warning("the index in %s is being updated by another process; answering from its "
                        "current build (built %s)", self.config.index_dir, store.manifest.built_at)
            self._store = store
            return None

    def warm_up(self) -> None:
        """Load the index and both models now rather than on the first question: the reader's
        configured backend (the ONNX session, or PyTorch) and its tokenizer, by reading once."""
        self._loaded_store()
        self.embedder.embed(["warm up"])
        text = "rag warms up its reader."
        self.reader.read("What does rag warm up?", [Chunk("warm-up", 0, 0, len(text), text)])

    def search(self, question: str, k: int | None = None, retrieval: RetrievalMode | None = None, *,
               mode: RetrievalMode | None = None) -> list[Hit]:
        """The top-k passages for a question, best first (retrieval only, no reader); ``retrieval``
        as for :meth:`ask` (``mode`` is its old name, still accepted with a DeprecationWarning)."""
        if mode is not None:
            warnings.warn("Pipeline.search(mode=...) is now retrieval=...", DeprecationWarning, stacklevel=2)
            retrieval = retrieval or mode
        return self._fresh_search(check_question(question), k, retrieval)[1]

    def _fresh_search(self, question: str, k: int | None, mode: RetrievalMode | None) -> tuple[PassageStore, list[Hit]]:
        """Hits from one build, none from a file that changed since that build read it.

        A changed file met here is indexed first (only it is read again), unless ``on_stale`` takes
        it or another process is updating the index: then its passages are left out of this answer.
        """
        store = self._loaded_store()
        hits = self._search(store, question, k, mode)
        stale = self.changed_files({h.chunk.doc_id for h in hits})
        if stale and self.on_stale is None and self.config.auto_update:
            try:
                self.index()
                store = self._loaded_store()
                hits = self._search(store, question, k, mode)
                stale = self.changed_files({h.chunk.doc_id for h in hits})
            except IndexBusyError:
                pass
        if stale and self.on_stale is not None:
            self.on_stale(stale)
        return store, [h for h in hits if h.chunk.doc_id not in stale]

    def changed_files(self, doc_ids: set[str] | None = None) -> set[str]:
        """Which of ``doc_ids`` (all indexed ones, and new files, when None) differ in size or mtime
        from when the current build read them, or are gone; only stats files."""
        if not self._indexed_stats:
            return set()  # loaded from another process's build: nothing to compare with
        if doc_ids is None:
            now, then = self._scan(), self._scanned
            return {d for d in now.keys() | then.keys() if now.get(d) != then.get(d)}
        changed = set()
        for doc_id in doc_ids:
            try:
                st = self._path(doc_id).stat()
                if (st.st_size, st.st_mtime_ns) != self._indexed_stats.get(doc_id):
                    changed.add(doc_id)
            except OSError:
                changed.add(doc_id)
        return changed

    def _search(self, store: PassageStore, question: str, k: int | None, mode: RetrievalMode | None) -> list[Hit]:
        mode = mode or self.config.retrieval
        if mode not in RETRIEVAL_MODES:
            raise ConfigError(f"retrieval mode must be one of {', '.join(RETRIEVAL_MODES)}, not {mode!r}")
        k = check_top_k(self.config.top_k if k is None else k)
        retriever = IndexRetriever(store, self.embedder, mode, self.config.rrf_k,
                                   self.config.dense_weight, self.config.rerank_depth)
        return retriever.retrieve(question, k)

    def ask(
        self, question: str, k: int | None = None, *, retrieval: RetrievalMode | None = None, min_confidence: float | None = None
    ) -> Answer:
        """Answer a question from the documents, with citations, or abstain.

        Args:
            k, retrieval, min_confidence: This question's top-k, retrieval mode and abstention
                threshold, instead of the config's.
        """
        question = check_question(question)
        threshold = self.config.min_confidence if min_confidence is None else min_confidence
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"min_confidence must be a number in [0, 1], not {threshold!r}")
        started = time.perf_counter()
        # One build answers the whole question: an upload indexed meanwhile (the web chat indexes
        # uploads beside questions) publishes a new store, which the next question uses.
        store, hits = self._fresh_search(question, k, retrieval)
        retrieved = time.perf_counter()
        spans = self.reader.read(question, [h.chunk for h in hits])
        read = time.perf_counter()
        manifest = store.manifest
        documents = {h.chunk.doc_id: manifest.info(h.chunk.doc_id) for h in hits}
        answer = decide(question, spans, hits, float(threshold), documents, self.scorer)
        timings = {"retrieve": retrieved - started, "read": read - retrieved, "total": time.perf_counter() - started}
        return dataclasses.replace(answer, timings=timings)

    def status(self) -> IndexStatus:
        """The index as it is on disk, and whether the corpus changed since it was built (loads no model)."""
        return index_status(self.config, self._documents())

    def document_info(self, doc_id: str) -> DocumentInfo:
        """Title, date and page offsets of an indexed document (empty for an unknown id)."""
        return self._loaded_store().manifest.info(doc_id)

    def document(self, doc_id: str) -> Document:
        """A document of the corpus (or an uploaded one) by id, with its whole text.

        Raises:
            CorpusError: There is no readable document with that id.
        """
        if doc_id.startswith(UPLOADS_PREFIX) and self.config.uploads_folder.is_dir():
            return read_document(self.config.uploads_folder, doc_id.removeprefix(UPLOADS_PREFIX), doc_id)
        return read_document(self.config.corpus_dir, doc_id)

    def add_document(self, name: str, data: bytes, replace: bool = True) -> UpdateReport:
        """Save a document (.txt, .md, .pdf, .html, .docx) into the uploads folder and index it; it is
        citable at once. Its id is ``"uploads/" + name``.

        Args: replace: Replace an upload of the same name; False refuses it (``UploadExistsError``).
        Raises:
            CorpusError: The file is refused (bad name, too large, unreadable, empty, its id is a
                corpus document's, or it exists and ``replace`` is False); nothing was written, and a
                replaced upload is as it was.
        """
        with saved_upload(self.config, name, data, replace) as saved:
            log.info("saved %s", saved)
            return self.index()

    def uploads(self) -> list[str]:
        """The ids of the documents added with ``add_document`` ("uploads/name"), sorted."""
        return [UPLOADS_PREFIX + name for name in list_uploads(self.config.uploads_folder)]

    def remove_document(self, doc_id: str) -> UpdateReport:
        """Delete an uploaded document (an ``uploads/`` id) and drop it from the index (CorpusError for
        any other id: corpus documents are never deleted)."""
        if not doc_id.startswith(UPLOADS_PREFIX):
            raise CorpusError(f"{doc_id!r} is not an uploaded document; rag removes only what it saved in uploads/")
        removed = remove_upload(self.config.uploads_folder, doc_id.removeprefix(UPLOADS_PREFIX))
        log.info("removed %s", removed)
        return self.index()

    def _documents(self, trust_file_states: bool = True, seen: dict[str, tuple[int, int]] | None = None) -> list[Document]:
        return load_documents(self.config.corpus_dir, self.config.index_dir, self.config.uploads_folder,
                              self.config.max_document_bytes, known_documents(self.config) if trust_file_states else None,
                              seen)

    def _read(self, document: Document) -> Document:
        """Read a document known only by its file's state, when its text is needed after all."""
        return read_within_limits(self._path(document.doc_id), document.doc_id, self.config.max_document_bytes)

    def _scan(self) -> dict[str, tuple[int, int]]:
        return {**scan_files(self.config.corpus_dir), **scan_files(self.config.uploads_folder, UPLOADS_PREFIX)}

    def _path(self, doc_id: str) -> Path:
        name = doc_id.removeprefix(UPLOADS_PREFIX)
        return (self.config.corpus_dir if name == doc_id else self.config.uploads_folder) / name

    def _loaded_store(self) -> PassageStore:
        if self._store is None:
            self.open()
        assert self._store is not None
        return self._store

    def _load_unchanged(self) -> PassageStore:
        with self._lock:
            store = load_index(self.config, self.embedder.name)
            scanned: dict[str, tuple[int, int]] = {}
            loaded = self._documents(seen=scanned)
            documents = {d.doc_id: d.content_hash for d in loaded}
            self._indexed_stats, self._scanned = {d.doc_id: d.stat for d in loaded}, scanned
            if store is None or store.manifest.documents != documents:
                raise StaleIndexError(
                    f"the index in {self.config.index_dir} is missing or out of date with {self.config.corpus_dir}; "
                    f"run: rag index --corpus {self.config.corpus_dir} --index {self.config.index_dir}"
                )
            return store
