"""The default store: passages, FAISS vectors and BM25 terms, in segments (rag/store/segment.py)
shared between builds. A build folder holds ``segments.json``: its segments, and per segment the
rows deleted since it was written. An update writes only the passages it adds, as a new segment,
and marks the rows of changed documents deleted, so one changed file costs the same at 10 passages
or 200,000; small segments are merged, and a segment with many deleted rows rewritten, as they
accumulate (figures in docs/scale-files.md).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from rag.errors import CorruptIndexError, StaleIndexError, first_line
from rag.lexical import Segment as LexicalSegment
from rag.lexical import SegmentedBm25, top_rows
from rag.store.base import Manifest, Scored, Vector
from rag.store.segment import SEGMENTS, Segment, open_segment, write_segment
from rag.types import Chunk

SEGMENT_LIST = "segments.json"
# A segment is written once it holds this many passages: what an update keeps in memory (~100 MB of
# vectors and texts) whatever the corpus size, and what one segment's rewrite costs.
SEGMENT_ROWS = 32768
# Segments under this many live passages are "small"; more than MAX_SMALL of them are merged into one.
SMALL_ROWS = SEGMENT_ROWS // 4
MAX_SMALL = 4
# A segment with this share of its rows deleted is rewritten without them.
PURGE_SHARE = 0.3


@dataclasses.dataclass(frozen=True, slots=True, eq=False)  # parts are told apart by identity
class Part:
    """A segment as one build sees it: which of its rows that build deleted."""

    segment: Segment
    deleted: npt.NDArray[np.bool_]

    @property
    def live(self) -> int:
        return self.segment.rows - int(self.deleted.sum())


class FaissStore:
    """The FAISS + BM25 store, loaded. Passage ids number the rows of its segments one after another
    (deleted rows are never returned). Implements :class:`rag.store.base.PassageStore`."""

    __slots__ = ("manifest", "parts", "_starts", "_live_bits", "_bm25", "_last_scores")

    def __init__(self, manifest: Manifest, parts: Sequence[Part]) -> None:
        self.manifest = manifest
        self.parts = tuple(parts)
        self._starts = np.cumsum([0] + [p.segment.rows for p in self.parts])
        # FAISS selects live rows by bitmap; a segment with nothing deleted needs none.
        self._live_bits = [np.packbits(~p.deleted, bitorder="little") if p.deleted.any() else None for p in self.parts]
        self._bm25 = SegmentedBm25([LexicalSegment(p.segment.postings, ~p.deleted if p.deleted.any() else None)
                                    for p in self.parts])
        # The last question's BM25 scores of every passage: lexical_search and lexical_scores for
        # the same question (one retrieve) score the corpus once. One tuple, replaced whole, so
        # threads never see a question with another question's scores.
        self._last_scores: tuple[str, npt.NDArray[np.float32] | None] = ("", None)

    @property
    def supports_lexical(self) -> bool:
        return True

    def count(self) -> int:
        return sum(p.live for p in self.parts)

    def dense_search(self, query: Vector, k: int) -> Scored:
        found = [(int(start) + row, score)
                 for part, start, bits in zip(self.parts, self._starts, self._live_bits)
                 for row, score in part.segment.dense.search(query, k, bits)]
        found.sort(key=lambda hit: -hit[1])  # stable: ties keep passage order
        return found[:k]

    def lexical_search(self, question: str, k: int) -> Scored:
        return top_rows(self._bm25_scores(question), k)

    def passages(self, ids: Sequence[int]) -> list[Chunk]:
        try:
            return [part.segment.chunk(row) for part, row in map(self._locate, ids)]
        except (OSError, ValueError, IndexError) as err:
            raise CorruptIndexError(f"a passage of the index is damaged ({first_line(err)}); "
                                    "rebuild it with: rag index --rebuild") from err

    def cosines(self, query: Vector, ids: Sequence[int]) -> list[float]:
        located = [self._locate(i) for i in ids]
        return [part.segment.dense.similarity(query, [row])[0] for part, row in located]

    def lexical_scores(self, question: str, ids: Sequence[int]) -> list[float]:
        scores = self._bm25_scores(question)
        return [float(scores[i]) for i in ids]

    # The whole store at once, for tools and tests (a question reads only the passages it needs).
    def live_ids(self) -> list[int]:
        """Every passage id, in order."""
        return [int(start) + int(row) for part, start in zip(self.parts, self._starts) for row in np.flatnonzero(~part.deleted)]

    @property
    def chunks(self) -> tuple[Chunk, ...]:
        """Every passage, in id order."""
        return tuple(self.passages(self.live_ids()))

    def vectors(self) -> Vector:
        """Every passage's vector, in id order."""
        blocks = [p.segment.dense.vectors()[~p.deleted] for p in self.parts]
        return np.concatenate(blocks) if blocks else np.zeros((0, self.manifest.embed_dim), dtype=np.float32)

    @property
    def dense_kind(self) -> str:
        return self.manifest.dense_index

    def save(self, build: Path) -> None:
        """Write the build's list of segments and deleted rows (the segments are already written)."""
        listing = [{"segment": p.segment.name, "rows": p.segment.rows, "deleted": np.flatnonzero(p.deleted).tolist()}
                   for p in self.parts]
        (build / SEGMENT_LIST).write_text(json.dumps(listing), encoding="utf-8")

    def _locate(self, passage_id: int) -> tuple[Part, int]:
        at = int(np.searchsorted(self._starts, passage_id, side="right")) - 1
        if not 0 <= at < len(self.parts) or passage_id < 0:
            raise IndexError(f"no passage {passage_id}")
        return self.parts[at], passage_id - int(self._starts[at])

    def _bm25_scores(self, question: str) -> npt.NDArray[np.float32]:
        asked, scores = self._last_scores
        if scores is None or asked != question:
            scores = self._bm25.scores(question)
            self._last_scores = (question, scores)
        return scores


def segments_named(build: Path | None) -> set[str]:
    """The segments a build names ({} when it names none, or cannot be read)."""
    try:
        return {entry["segment"] for entry in json.loads((build / SEGMENT_LIST).read_text(encoding="utf-8"))} if build else set()
    except (OSError, ValueError, TypeError, KeyError):
        return set()


def open_faiss(build: Path, manifest: Manifest, rebuild_hint: str) -> FaissStore:
    """The store a build folder names, checked against its manifest.

    Raises:
        StaleIndexError: The build was written by a rag that kept one file per part (before segments).
        CorruptIndexError: A part is missing or unreadable, or the parts disagree with each other or
            with the manifest.
    """
    if not (build / SEGMENT_LIST).exists() and (build / "passages.jsonl").exists():
        raise StaleIndexError(f"the index in {build.parent} was written by an older rag (before segments); {rebuild_hint}")
    try:
        listing = json.loads((build / SEGMENT_LIST).read_text(encoding="utf-8"))
        parts = []
        for entry in listing:
            segment = open_segment(build.parent / SEGMENTS, entry["segment"])
            deleted = np.zeros(segment.rows, dtype=bool)
            deleted[np.asarray(entry["deleted"], dtype=np.int64)] = True
            if segment.rows != entry["rows"]:
                raise ValueError(f"segment {segment.name} holds {segment.rows} passages, the build says {entry['rows']}")
            if segment.dense.dimension != manifest.embed_dim or segment.dense.kind != manifest.dense_index:
                raise ValueError(f"the manifest says a {manifest.dense_index} dense index of {manifest.embed_dim} "
                                 f"dimensions, segment {segment.name} holds {segment.dense.kind} of {segment.dense.dimension}")
            parts.append(Part(segment, deleted))
        store = FaissStore(manifest, parts)
        if store.count() != manifest.passages:
            raise ValueError("its parts disagree on the number of passages")
    # What damaged files raise: FAISS a RuntimeError, json and numpy ValueError, KeyError or
    # TypeError, the file system OSError. Anything else is a bug, and keeps its traceback.
    except (OSError, ValueError, TypeError, KeyError, IndexError, RuntimeError, EOFError) as err:
        raise CorruptIndexError(f"the index in {build.parent} is damaged ({first_line(err)}); {rebuild_hint}") from err
    return store


class FaissWriter:
    """Collects a FAISS build: the previous build's segments, with the rows of deleted documents
    marked, plus new segments of the added passages, written as they fill (so memory stays bounded);
    :meth:`commit` merges what the policy above says and lists the segments in the new build."""

    def __init__(self, previous: FaissStore | None, segments: Path, dense_kind: str) -> None:
        self._segments = segments
        self._dense_kind = dense_kind
        self._parts = [Part(p.segment, p.deleted.copy()) for p in previous.parts] if previous else []
        self._new: list[Part] = []
        self._chunks: list[Chunk] = []
        self._vectors: list[Vector] = []

    def delete(self, doc_ids: Collection[str]) -> None:
        doc_ids = set(doc_ids)
        for part in self._parts + self._new:
            part.deleted[part.segment.rows_of(doc_ids)] = True
        kept = [i for i, c in enumerate(self._chunks) if c.doc_id not in doc_ids]
        self._chunks = [self._chunks[i] for i in kept]
        self._vectors = [self._vectors[i] for i in kept]

    def add(self, chunks: Sequence[Chunk], vectors: Vector) -> None:
        self._chunks.extend(chunks)
        self._vectors.extend(vectors)
        while len(self._chunks) >= SEGMENT_ROWS:
            self._flush(SEGMENT_ROWS)

    def commit(self, manifest: Manifest, build: Path) -> FaissStore:
        kept = [p for p in self._parts if p.live]
        rewrite = [p for p in kept if p.segment.rows - p.live >= PURGE_SHARE * p.segment.rows]
        small = [p for p in kept if p.live < SMALL_ROWS and p not in rewrite]
        if len(small) + bool(self._chunks) > MAX_SMALL:
            rewrite += small
        for part in rewrite:
            live = np.flatnonzero(~part.deleted)
            vectors = part.segment.dense.vectors()[live]
            self.add([part.segment.chunk(int(row)) for row in live], vectors)
        if self._chunks:
            self._flush(len(self._chunks))
        parts = [p for p in kept if p not in rewrite] + [p for p in self._new if p.live]
        store = FaissStore(dataclasses.replace(manifest, passages=sum(p.live for p in parts)), parts)
        store.save(build)
        return store

    def _flush(self, rows: int) -> None:
        chunks, self._chunks = self._chunks[:rows], self._chunks[rows:]
        vectors, self._vectors = self._vectors[:rows], self._vectors[rows:]
        stacked = np.asarray(vectors, dtype=np.float32).reshape(len(chunks), -1)
        self._new.append(Part(write_segment(self._segments, chunks, stacked, self._dense_kind), np.zeros(rows, dtype=bool)))
