"""One segment of the FAISS store: a fixed set of passages, written once into its own folder and
never changed, so a new build reuses it as it is. A build names its segments and, per segment, the
rows its documents' changes deleted (rag/store/faiss_store.py).

Files of a segment folder (``segments/seg-<hex>/`` in the index folder)::

    .rag-segment     marker: rag wrote this folder (written first)
    docs.json        the ids of the documents it holds passages of
    passages.npy     one row per passage: document number (in docs.json), chunk index, start, end
    offsets.npy      where each passage's text starts in texts.bin (UTF-8 bytes), and its end
    texts.bin        the passages' texts, one after another
    dense.faiss      their vectors (rag/index.py)
    bm25/            their terms (rag/lexical.py)

Everything but dense.faiss is memory-mapped, not parsed: a question reads the passages it needs,
so opening the index costs the same whatever the corpus holds (one JSON parse per passage cost
1.5 s of every `rag ask` at 193k passages).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from rag.index import DenseIndex
from rag.lexical import Postings
from rag.types import Chunk

SEGMENTS = "segments"
SEGMENT_MARKER = ".rag-segment"
SEGMENT_NAME = re.compile(r"seg-[0-9a-f]{32}")
_DOCS, _TABLE, _OFFSETS, _TEXTS, _DENSE, _BM25 = "docs.json", "passages.npy", "offsets.npy", "texts.bin", "dense.faiss", "bm25"


class Segment:
    """A segment, opened: passage ``row`` is ``chunk(row)``, row ``row`` of ``dense`` and ``postings``."""

    __slots__ = ("name", "docs", "table", "offsets", "texts", "dense", "postings")

    def __init__(self, name: str, docs: list[str], table: npt.NDArray[np.int64], offsets: npt.NDArray[np.int64],
                 texts: npt.NDArray[np.uint8], dense: DenseIndex, postings: Postings) -> None:
        self.name = name
        self.docs = docs
        self.table = table
        self.offsets = offsets
        self.texts = texts
        self.dense = dense
        self.postings = postings

    @property
    def rows(self) -> int:
        return len(self.table)

    def chunk(self, row: int) -> Chunk:
        doc, chunk_index, start, end = (int(x) for x in self.table[row])
        text = bytes(self.texts[self.offsets[row]:self.offsets[row + 1]]).decode("utf-8")
        if len(text) != end - start:
            raise ValueError(f"passage {row} of segment {self.name}: its offsets do not match its text")
        return Chunk(self.docs[doc], chunk_index, start, end, text)

    def rows_of(self, doc_ids: Collection[str]) -> npt.NDArray[np.bool_]:
        """Which rows belong to these documents."""
        numbers = [i for i, d in enumerate(self.docs) if d in doc_ids]
        return np.isin(self.table[:, 0], numbers)


def write_segment(segments: Path, chunks: Sequence[Chunk], vectors: npt.NDArray[np.float32], dense_kind: str) -> Segment:
    """A new segment of these passages (row i of ``vectors`` is ``chunks[i]``'s) in ``segments``.

    Nothing names it until a build does, so one left half-written by a crash is never read (and the
    next update removes it).
    """
    name = f"seg-{uuid.uuid4().hex}"
    folder = segments / name
    folder.mkdir(parents=True)
    (folder / SEGMENT_MARKER).write_text(f"rag (pid {os.getpid()})\n", encoding="utf-8")
    docs = list(dict.fromkeys(c.doc_id for c in chunks))
    number = {d: i for i, d in enumerate(docs)}
    table = np.array([(number[c.doc_id], c.chunk_index, c.start, c.end) for c in chunks], dtype=np.int64).reshape(-1, 4)
    encoded = [c.text.encode("utf-8") for c in chunks]
    offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    (folder / _DOCS).write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
    _save(folder / _TABLE, table)
    _save(folder / _OFFSETS, offsets)
    with open(folder / _TEXTS, "wb") as f:
        f.writelines(encoded)
    dense = DenseIndex.build(vectors, kind=dense_kind, dimension=vectors.shape[1])
    dense.save(folder / _DENSE)
    postings = Postings.build([c.text for c in chunks])
    postings.save(folder / _BM25)
    return Segment(name, docs, table, offsets, _texts(folder / _TEXTS), dense, postings)


def open_segment(segments: Path, name: str) -> Segment:
    """A segment as written, its parts checked against each other.

    Raises:
        OSError, ValueError, RuntimeError: A part is missing, unreadable, or disagrees with the others.
    """
    if SEGMENT_NAME.fullmatch(name) is None:
        raise ValueError(f"{name!r} is not the name of a segment")
    folder = segments / name
    docs = json.loads((folder / _DOCS).read_text(encoding="utf-8"))
    if not isinstance(docs, list) or not all(isinstance(d, str) for d in docs):
        raise ValueError(f"{_DOCS} of segment {name} is not a list of document ids")
    table = np.load(folder / _TABLE, mmap_mode="r", allow_pickle=False)
    offsets = np.load(folder / _OFFSETS, mmap_mode="r", allow_pickle=False)
    texts = _texts(folder / _TEXTS)
    dense = DenseIndex.load(folder / _DENSE)
    postings = Postings.load(folder / _BM25)
    rows = len(table)
    if table.ndim != 2 or table.shape[1] != 4 or len(offsets) != rows + 1 or dense.size != rows or postings.size != rows:
        raise ValueError(f"the parts of segment {name} disagree on the number of passages")
    if int(offsets[-1]) != len(texts) or (rows and (int(table[:, 0].max()) >= len(docs) or int(table[:, 0].min()) < 0)):
        raise ValueError(f"the passages of segment {name} do not match its texts or documents")
    return Segment(name, docs, table, offsets, texts, dense, postings)


def is_own_segment(folder: Path) -> bool:
    return (not folder.is_symlink() and folder.is_dir() and SEGMENT_NAME.fullmatch(folder.name) is not None
            and (folder / SEGMENT_MARKER).is_file())


def _save(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array)


def _texts(path: Path) -> npt.NDArray[np.uint8]:
    if path.stat().st_size == 0:  # np.memmap refuses an empty file
        return np.zeros(0, dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r")
