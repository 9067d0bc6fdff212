"""The Pipeline: corpus -> chunks -> index -> retriever -> reader -> answer, with models loaded once."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import Any

from rag.answer import decide
from rag.config import RETRIEVAL_MODES, Config, load_config
from rag.corpus import load_corpus
from rag.embedder import Embedder, SentenceTransformerEmbedder
from rag.errors import ConfigError, QuestionError, StaleIndexError
from rag.reader import ExtractiveReader
from rag.retriever import IndexRetriever
from rag.store import PassageIndex, UpdateReport, load_index, sync_index
from rag.types import Answer, Hit

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000


class Pipeline:
    """Question answering over one corpus folder. Cheap to build; the first question loads the models.

    Example:
        >>> qa = Pipeline.from_folder("seeds")
        >>> answer = qa.ask("Where did the two defense ministers meet?")
        >>> answer.text, answer.citations[0].doc_id
    """

    def __init__(
        self, config: Config | None = None, embedder: Embedder | None = None, reader: ExtractiveReader | None = None
    ) -> None:
        """Args:
            embedder, reader: Already-loaded models to share between pipelines (by default each
                pipeline loads its own on first use).
        """
        self.config = config or Config()
        self._embedder = embedder
        self._reader = reader
        self._index: PassageIndex | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_folder(cls, folder: str | Path, config: Config | None = None, **settings: Any) -> Pipeline:
        """A pipeline over ``folder``; settings (e.g. ``top_k=3``) override ``config`` or rag.toml."""
        if config is None:
            return cls(load_config(corpus_dir=Path(folder), **settings))
        try:
            return cls(dataclasses.replace(config, corpus_dir=Path(folder), **settings))
        except TypeError as err:  # an unknown setting name
            raise ConfigError(f"unknown setting: {err}") from None

    @cached_property
    def embedder(self) -> Embedder:
        return self._embedder or SentenceTransformerEmbedder(self.config)

    @cached_property
    def reader(self) -> ExtractiveReader:
        return self._reader or ExtractiveReader(self.config)

    def index(self, rebuild: bool = False) -> UpdateReport:
        """Build the index, or bring it up to date with the corpus (only changed files are embedded)."""
        with self._lock:
            documents = load_corpus(self.config.corpus_dir)
            self._index, report = sync_index(self.config, documents, self.embedder, rebuild=rebuild)
            return report

    def warm_up(self) -> None:
        """Load the index and both models now rather than on the first question."""
        self._passage_index()
        self.embedder.embed(["warm up"])
        self.reader.model

    def search(self, question: str, k: int | None = None, mode: str | None = None) -> list[Hit]:
        """The top-k passages for a question, best first (retrieval only, no reader)."""
        question = _check_question(question)
        mode = mode or self.config.retrieval
        if mode not in RETRIEVAL_MODES:
            raise ConfigError(f"retrieval mode must be one of {', '.join(RETRIEVAL_MODES)}, not {mode!r}")
        retriever = IndexRetriever(self._passage_index(), self.embedder, mode, self.config.rrf_k)
        return retriever.retrieve(question, k or self.config.top_k)

    def ask(self, question: str, k: int | None = None) -> Answer:
        """Answer a question from the documents, with citations, or abstain."""
        question = _check_question(question)
        started = time.perf_counter()
        hits = self.search(question, k)
        retrieved = time.perf_counter()
        spans = self.reader.read(question, [h.chunk for h in hits])
        read = time.perf_counter()
        answer = decide(question, spans, hits, self.config.min_confidence)
        timings = {"retrieve": retrieved - started, "read": read - retrieved, "total": time.perf_counter() - started}
        return dataclasses.replace(answer, timings=timings)

    def _passage_index(self) -> PassageIndex:
        if self._index is None:
            if self.config.auto_update:
                self.index()
            else:
                self._index = self._load_unchanged()
        assert self._index is not None
        return self._index

    def _load_unchanged(self) -> PassageIndex:
        with self._lock:
            index = load_index(self.config, self.embedder.name)
            documents = {d.doc_id: d.content_hash for d in load_corpus(self.config.corpus_dir)}
            if index is None or index.manifest.documents != documents:
                raise StaleIndexError(
                    f"the index in {self.config.index_dir} is missing or out of date with {self.config.corpus_dir}; "
                    f"run: rag index --corpus {self.config.corpus_dir} --index {self.config.index_dir}"
                )
            return index


def _check_question(question: str) -> str:
    if not isinstance(question, str):
        raise QuestionError(f"a question must be text, not {type(question).__name__}")
    question = question.strip()
    if not question:
        raise QuestionError("the question is empty; ask something, e.g. rag ask \"Where did the ministers meet?\"")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}")
    return question
