"""The values that stages hand each other: documents, passages, hits, citations and answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Document:
    """One file of the corpus.

    Attributes:
        doc_id: Path relative to the corpus folder, with "/" separators, e.g. "000_d8589817e4af2ab0.txt".
        text: Exactly what ``open(path, encoding="utf-8").read()`` returns; every offset indexes it.
        content_hash: sha256 of ``text`` (UTF-8), used to tell changed documents on re-indexing.
        stat: The file's (size, modification time in ns) when it was read, if read from a file.
        unread: The file was not read because its size and modification time are those recorded
            when the index last read it: ``text`` is "" and the rest comes from the index.
    """

    doc_id: str
    text: str
    content_hash: str
    title: str = ""  # first heading or line, HTML <title>, PDF/DOCX metadata
    date: str | None = None  # ISO date the document states (dateline or metadata), if any
    page_starts: tuple[int, ...] = ()  # PDFs: offset in ``text`` where each page starts
    stat: tuple[int, int] | None = None
    unread: bool = False


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """What citations show about a document besides its text (kept in the index manifest)."""

    title: str = ""
    date: str | None = None
    page_starts: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage of a document; ``text == document.text[start:end]`` always holds."""

    doc_id: str
    chunk_index: int
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved passage with its scores.

    Attributes:
        score: The score the retriever ranked by (fused RRF score in hybrid mode).
        dense_score: Cosine similarity of question and passage, in [-1, 1].
        bm25_score: BM25 score of the passage (0.0 when it shares no term with the question).
    """

    chunk: Chunk
    score: float
    dense_score: float
    bm25_score: float

    def to_json(self) -> dict[str, Any]:
        return {
            "doc_id": self.chunk.doc_id,
            "chunk_index": self.chunk.chunk_index,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "text": self.chunk.text,
            "score": round(self.score, 6),
            "dense_score": round(self.dense_score, 6),
            "bm25_score": round(self.bm25_score, 6),
        }


@dataclass(frozen=True, slots=True)
class Citation:
    """Where an answer was found: ``quote == document.text[start:end]``."""

    doc_id: str
    chunk_index: int
    start: int
    end: int
    quote: str
    passage: Chunk
    score: float  # the reader's probability for this span in this passage, in [0, 1]
    title: str | None = None  # of the document
    date: str | None = None  # ISO date the document states, if any
    page: int | None = None  # PDFs: the page (from 1) the quote starts on

    def to_json(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "chunk_index": self.chunk_index,
            "start": self.start,
            "end": self.end,
            "quote": self.quote,
            "score": round(self.score, 6),
            "passage": self.passage.text,
            "passage_start": self.passage.start,
            "passage_end": self.passage.end,
            "title": self.title,
            "date": self.date,
            "page": self.page,
        }


@dataclass(frozen=True, slots=True)
class Alternative:
    """Another strong answer, from other documents, that disagrees with the chosen one."""

    text: str
    confidence: float
    citations: tuple[Citation, ...]

    def to_json(self) -> dict[str, Any]:
        return {"answer": self.text, "confidence": round(self.confidence, 6), "citations": [c.to_json() for c in self.citations]}


@dataclass(frozen=True, slots=True)
class Answer:
    """The pipeline's reply to one question.

    Attributes:
        text: The answer, an exact slice of a document; None when rag abstains.
        citations: Every place the answer was found, best first (empty when abstaining).
        confidence: In [0, 1]; below ``Config.min_confidence`` rag abstains.
        passages: The retrieved passages the reader looked at, best first.
        message: A sentence for people: the answer, or why there is none.
    """

    question: str
    text: str | None
    citations: tuple[Citation, ...]
    confidence: float
    passages: tuple[Hit, ...] = ()
    message: str = ""
    timings: dict[str, float] = field(default_factory=dict, compare=False)
    # Strong answers from other documents that say something else (empty when the sources agree).
    alternatives: tuple[Alternative, ...] = ()
    # Why this answer was chosen over the alternatives, when not simply by confidence.
    chosen_because: str | None = None
    # The question as rag understood it (a follow-up with its subject filled in), when it differs.
    interpreted_as: str | None = None

    @property
    def abstained(self) -> bool:
        return self.text is None

    def to_json(self) -> dict[str, Any]:
        """The ``rag ask --json`` object (a contract: extend it, never rename fields)."""
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "confidence": round(self.confidence, 6),
            "message": self.message,
            "supporting_passages": len({(c.doc_id, c.chunk_index) for c in self.citations}),
            "citations": [c.to_json() for c in self.citations],
            "passages": [h.to_json() for h in self.passages],
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "disagreement": bool(self.alternatives),
            "alternatives": [a.to_json() for a in self.alternatives],
            "chosen_because": self.chosen_because,
            "interpreted_as": self.interpreted_as,
        }



@dataclass(frozen=True, slots=True)
class Span:
    """A candidate answer the reader found in one passage.

    Attributes:
        start, end: Character offsets into the document (not the passage).
        probability: The reader's probability for this span in its window, against every other
            span and "no answer" in that window, so it compares across passages.
    """

    chunk: Chunk
    start: int
    end: int
    text: str
    probability: float
    # The raw numbers behind the probability, so spans can be scored across passages in other ways
    # (rag/scoring.py): the start and end logits, the window's "no answer" ([CLS]) logits, and
    # the log-sum-exp of the start and end logits over the window's context tokens.
    start_logit: float = 0.0
    end_logit: float = 0.0
    null_start_logit: float = 0.0
    null_end_logit: float = 0.0
    window: int = 0  # which window of its passage the span was read in
    start_log_z: float = 0.0
    end_log_z: float = 0.0
    tokens: int = 1  # length in the reader's tokens

    @property
    def logit(self) -> float:
        """start + end logit: the reader's raw score, comparable across windows and passages."""
        return self.start_logit + self.end_logit

    @property
    def null_logit(self) -> float:
        """The window's "no answer" score on the same scale as :attr:`logit`."""
        return self.null_start_logit + self.null_end_logit
