"""Question-answering systems measured side by side on the same corpora and questions.

A system answers one question at a time over one corpus folder: ``Reply`` is its answer (None when
it declines), the documents it cites first and the seconds the answer took. rag is asked through
``Pipeline.ask`` exactly as a user asks it, once, at threshold 0: its confidence then decides the
answer at the shipped threshold and "never declining" from the same reading
(``rag.answer.with_threshold``, which a test holds equal to asking at the threshold).
Haystack is in ``haystack_system.py``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rag import Config, Pipeline
from rag.eval.gold import GoldQuestion
from rag.eval.metrics import exact_match, f1, mean, percentile


@dataclass(frozen=True, slots=True)
class Reply:
    text: str | None  # the best answer found (None: none at all)
    doc_id: str | None  # the document its first citation is in
    seconds: float
    declined: bool = False  # the system said the documents do not answer (its answer is not given)
    confidence: float = 1.0  # rag's calibrated confidence (declined below its threshold)

    @property
    def given(self) -> str | None:
        """What the user is told: the answer, or None when declined."""
        return None if self.declined else self.text


def never_declining(replies: Sequence[Reply]) -> list[Reply]:
    """The same replies with every decline turned into its best answer (what the system would say
    if it never declined)."""
    return [dataclasses.replace(r, declined=r.text is None) for r in replies]


class System(Protocol):
    name: str

    def open(self, corpus: Path, work: Path) -> Callable[[str], Reply]:
        """Index ``corpus`` (under ``work``, reused when present) and return the function that answers."""


@dataclass(frozen=True, slots=True)
class RagSystem:
    """rag through ``Pipeline.ask`` with the settings of ``base`` (the defaults unless given)."""

    name: str
    base: Config = dataclasses.field(default_factory=Config)
    threshold: float | None = None  # None: the config's min_confidence
    models: Any = None  # (embedder, reader) shared between systems with the same models

    def config(self, corpus: Path, work: Path) -> Config:
        chunks = f"{self.base.chunk_chars}-{self.base.chunk_overlap}"
        return dataclasses.replace(self.base, corpus_dir=corpus, index_dir=work / f"rag-index-{chunks}",
                                   uploads_dir=str(work / "no-uploads"))

    def open(self, corpus: Path, work: Path) -> Callable[[str], Reply]:
        config = self.config(corpus, work)
        embedder, reader = self.models or (None, None)
        pipeline = Pipeline(config, embedder=embedder, reader=reader)
        pipeline.index()
        pipeline.warm_up()
        threshold = config.min_confidence if self.threshold is None else self.threshold

        def answer(question: str) -> Reply:
            started = time.perf_counter()
            candidate = pipeline.ask(question, min_confidence=0.0)
            seconds = time.perf_counter() - started
            doc = candidate.citations[0].doc_id if candidate.citations else None
            declined = candidate.text is None or candidate.confidence < threshold
            return Reply(candidate.text, doc, seconds, declined, candidate.confidence)

        return answer


@dataclass(frozen=True, slots=True)
class Row:
    """One system on one corpus: the scores of its replies."""

    system: str
    corpus: str
    n: int
    answerable: int
    unanswerable: int
    em: float  # over the answerable questions; a decline scores 0
    f1: float
    answerable_declined: float  # share of the answerable questions declined (false declines)
    unanswerable_declined: float  # share of the unanswerable questions declined (NoAns accuracy)
    right_document: float  # share of the answerable questions whose answer cites a gold document first
    p50_s: float
    per_question_f1: tuple[float, ...] = ()  # for paired comparisons (unanswerable: 1.0 if declined)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "per_question_f1"}


def score(system: str, corpus: str, questions: Sequence[GoldQuestion], replies: Sequence[Reply]) -> Row:
    answerable = [(q, r) for q, r in zip(questions, replies, strict=True) if q.answerable]
    unanswerable = [(q, r) for q, r in zip(questions, replies, strict=True) if not q.answerable]
    per_question = [
        (f1(r.given, q.answers) if r.given is not None else 0.0) if q.answerable else float(r.given is None)
        for q, r in zip(questions, replies, strict=True)
    ]
    return Row(
        system, corpus, len(questions), len(answerable), len(unanswerable),
        em=mean([exact_match(r.given, q.answers) if r.given is not None else 0.0 for q, r in answerable]),
        f1=mean([f1(r.given, q.answers) if r.given is not None else 0.0 for q, r in answerable]),
        answerable_declined=mean([float(r.given is None) for _, r in answerable]),
        unanswerable_declined=mean([float(r.given is None) for _, r in unanswerable]),
        right_document=mean([float(r.given is not None and r.doc_id in q.doc_ids) for q, r in answerable]),
        p50_s=percentile([r.seconds for r in replies], 50),
        per_question_f1=tuple(per_question),
    )


def run_system(system: System, corpus: str, folder: Path, work: Path, questions: Sequence[GoldQuestion]) -> tuple[Row, list[Reply]]:
    """Every question asked once, in order; the row and the replies."""
    answer = system.open(folder, work)
    replies = [answer(q.question) for q in questions]
    return score(system.name, corpus, questions, replies), replies


def paired_difference(a: Row, b: Row) -> tuple[float, float]:
    """Mean per-question score of ``a`` minus ``b`` on the same questions, and its standard error.

    The per-question score is F1 on an answerable question and 1 for declining an unanswerable one.
    A difference within about two standard errors of zero is within the noise of this question set.
    """
    diffs = [x - y for x, y in zip(a.per_question_f1, b.per_question_f1, strict=True)]
    if len(diffs) < 2:
        return (diffs[0] if diffs else 0.0), float("nan")
    average = sum(diffs) / len(diffs)
    variance = sum((d - average) ** 2 for d in diffs) / (len(diffs) - 1)
    return average, math.sqrt(variance / len(diffs))
