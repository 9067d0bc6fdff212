"""The settings sweep behind ``python -m rag.eval.bench.tune``: read each question once per reading setting,
then score every retrieval and answer-scoring choice from that one reading.

A passage's reading does not depend on the other passages read with it, so the union of the
passages every retrieval choice puts in its top k is read once; each choice then keeps only its own
passages' spans (and, for shared normalisation, its own windows). An index is built once per chunk
setting and reused by every choice and every later run (its folder is named after the setting).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag import Config, Pipeline
from rag.calibration import Scorer
from rag.config import RetrievalMode
from rag.embedder import Embedder
from rag.eval.gold import GoldQuestion
from rag.eval.metrics import exact_match, f1, mean, percentile
from rag.reader import ExtractiveReader
from rag.retriever import IndexRetriever
from rag.scoring import RankedAnswer, rank_answers
from rag.types import Hit, Span


@dataclass(frozen=True, slots=True)
class ReadSetting:
    """What needs a new index or a new reading: the passages and the reader's window."""

    chunk_chars: int
    chunk_overlap: int
    reader_max_length: int = 256
    reader_stride: int = 128

    @property
    def label(self) -> str:
        return f"chunks {self.chunk_chars}/{self.chunk_overlap}, window {self.reader_max_length}/{self.reader_stride}"


@dataclass(frozen=True, slots=True)
class Retrieval:
    """A retrieval mode with its parameter (rrf_k for hybrid, dense_weight for weighted, rerank_depth for rerank)."""

    retrieval: RetrievalMode
    rrf_k: int = 10
    dense_weight: float = 0.5
    rerank_depth: int = 20

    @property
    def label(self) -> str:
        extra = {"hybrid": f" rrf {self.rrf_k}", "weighted": f" {self.dense_weight:g}", "rerank": f" {self.rerank_depth}"}
        return self.retrieval + extra.get(self.retrieval, "")


@dataclass(frozen=True, slots=True)
class AnswerSetting:
    """What is chosen from one reading: which passages count, and how their spans are compared."""

    retrieval: RetrievalMode
    top_k: int
    rrf_k: int
    span_scoring: str
    max_answer_tokens: int
    dense_weight: float = 0.5
    rerank_depth: int = 20

    @property
    def mode(self) -> Retrieval:
        """The retrieval with only its own mode's parameter (the others at their defaults)."""
        default = Retrieval(self.retrieval)
        return Retrieval(self.retrieval, self.rrf_k if self.retrieval == "hybrid" else default.rrf_k,
                         self.dense_weight if self.retrieval == "weighted" else default.dense_weight,
                         self.rerank_depth if self.retrieval == "rerank" else default.rerank_depth)

    @property
    def label(self) -> str:
        return f"{self.mode.label} top {self.top_k}, {self.span_scoring}, ≤{self.max_answer_tokens} tokens"


@dataclass(frozen=True, slots=True)
class Setting:
    read: ReadSetting
    answer: AnswerSetting

    def config(self, base: Config) -> Config:
        return dataclasses.replace(base, **dataclasses.asdict(self.read), **dataclasses.asdict(self.answer))

    @property
    def label(self) -> str:
        return f"{self.read.label}; {self.answer.label}"


@dataclass(frozen=True, slots=True)
class Reading:
    """One question read once: the hits of every retrieval choice and the spans of all their passages."""

    gold: GoldQuestion
    hits: dict[Retrieval, tuple[Hit, ...]]  # hits of each retrieval, best first
    spans: tuple[Span, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The best answer of one question under one setting, before any threshold."""

    gold: GoldQuestion
    answer: RankedAnswer | None
    hits: tuple[Hit, ...]

    @property
    def text(self) -> str | None:
        return self.answer.best.text if self.answer else None

    @property
    def em(self) -> float:
        return exact_match(self.text, self.gold.answers) if self.text is not None and self.gold.answerable else 0.0

    @property
    def f1(self) -> float:
        return f1(self.text, self.gold.answers) if self.text is not None and self.gold.answerable else 0.0


def corpus_pipeline(base: Config, corpus: Path, work: Path, read: ReadSetting, embedder: Embedder,
                    reader: ExtractiveReader, scorer: Scorer | None = None) -> Pipeline:
    """A pipeline over ``corpus`` with its index for this chunk setting under ``work`` (built once)."""
    config = dataclasses.replace(
        base, corpus_dir=corpus, index_dir=work / f"index-{read.chunk_chars}-{read.chunk_overlap}",
        chunk_chars=read.chunk_chars, chunk_overlap=read.chunk_overlap, uploads_dir=str(work / "no-uploads"),
    )
    pipeline = Pipeline(config, embedder=embedder, reader=reader, scorer=scorer)
    pipeline.index()
    return pipeline


def read_questions(pipeline: Pipeline, reader: ExtractiveReader, questions: Sequence[GoldQuestion],
                   retrievals: Sequence[Retrieval], max_k: int) -> list[Reading]:
    """Retrieve with every retrieval setting and read the union of their top ``max_k`` passages once."""
    store = pipeline._loaded_store()
    retrievers = {r: IndexRetriever(store, pipeline.embedder, r.retrieval, r.rrf_k, r.dense_weight, r.rerank_depth)
                  for r in retrievals}
    readings = []
    for gold in questions:
        hits = {r: tuple(retriever.retrieve(gold.question, max_k)) for r, retriever in retrievers.items()}
        chunks = list({h.chunk: None for ranked in hits.values() for h in ranked})
        readings.append(Reading(gold, hits, tuple(reader.read(gold.question, chunks))))
    return readings


def outcomes(readings: Sequence[Reading], answer: AnswerSetting) -> list[Outcome]:
    """Each question's best answer when only this setting's passages and spans count."""
    results = []
    for reading in readings:
        hits = reading.hits[answer.mode][: answer.top_k]
        kept = {(h.chunk.doc_id, h.chunk.chunk_index) for h in hits}
        spans = [s for s in reading.spans
                 if s.tokens <= answer.max_answer_tokens and (s.chunk.doc_id, s.chunk.chunk_index) in kept]
        ranked = rank_answers(spans, hits, answer.span_scoring)
        results.append(Outcome(reading.gold, ranked[0] if ranked else None, hits))
    return results


def accuracy(results: Sequence[Outcome]) -> dict[str, float]:
    """EM and F1 over the answerable questions, with no abstention."""
    answerable = [r for r in results if r.gold.answerable]
    return {"em": mean([r.em for r in answerable]), "f1": mean([r.f1 for r in answerable]), "n": float(len(answerable))}


def read_latency(pipeline: Pipeline, reader: ExtractiveReader, questions: Sequence[str], ks: Sequence[int],
                 retrieval: RetrievalMode = "hybrid") -> dict[int, float]:
    """Median seconds to read the top-k passages of a question, for each k (retrieval not counted)."""
    reader.read("warm up", [pipeline.search(questions[0], 1, retrieval)[0].chunk])
    medians = {}
    for k in ks:
        seconds = []
        for question in questions:
            chunks = [h.chunk for h in pipeline.search(question, k, retrieval)]
            started = time.perf_counter()
            reader.read(question, chunks)
            seconds.append(time.perf_counter() - started)
        medians[k] = percentile(seconds, 50)
    return medians
