"""Builders and stand-ins the tests share (fixtures live in conftest.py).

``HashEmbedder`` stands in for the real embedder where a test must isolate the store: a hashed bag
of words, deterministic, instant, and counting what it embeds, so a test can tell which passages a
sync re-embedded. ``TINY`` is a SQuAD file small enough to read, with the awkward parts of real ones.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt

from rag.config import Config
from rag.corpus import content_hash
from rag.types import Document

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
CORE_QUESTIONS = Path(__file__).resolve().parent / "data" / "core_questions.jsonl"


class HashEmbedder:
    """Hashed bag of words, normalised; satisfies the Embedder protocol."""

    def __init__(self, name: str = "fake-hash-embedder", dimension: int = 64, fail_after: int | None = None) -> None:
        self.name = name
        self._dimension = dimension
        self.fail_after = fail_after  # raise once this many texts have been embedded
        self.embedded: list[str] = []

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        vectors = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            if self.fail_after is not None and len(self.embedded) >= self.fail_after:
                raise RuntimeError("simulated crash while embedding")
            self.embedded.append(text)
            vectors[i, 0] = 1.0  # so a text without words still has a direction
            for word in re.findall(r"\w+", text.lower()):
                vectors[i, 1 + zlib.crc32(word.encode("utf-8")) % (self._dimension - 1)] += 1.0
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def first_segment(build: Path) -> Path:
    """The folder of a FAISS build's first segment (where its passages, vectors and terms are)."""
    import json

    listing = json.loads((build / "segments.json").read_text(encoding="utf-8"))
    return build.parent / "segments" / listing[0]["segment"]


def document(doc_id: str, text: str) -> Document:
    return Document(doc_id=doc_id, text=text, content_hash=content_hash(text))


def paragraph(topic: str, n: int = 6) -> str:
    return " ".join(f"Sentence {i} of the document about {topic} says something new." for i in range(n))


DOCS = [
    document("a.txt", paragraph("the defense ministers")),
    document("b.md", paragraph("the Yongsan garrison")),
    document("notes/c.txt", paragraph("the naval exercise", n=3)),
]


def make_config(index_dir: Path, **changes: object) -> Config:
    return dataclasses.replace(Config(index_dir=index_dir, chunk_chars=150, chunk_overlap=40), **changes)


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> npt.NDArray[np.float32]:
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


P0 = "The Cheonan warship sank in 2010.\nForty-six sailors died."
P1 = "  Seoul hosted the Defense Dialogue in Yongsan. "  # edge spaces must survive the copy
P2 = "Café Señor, über 3 km² — naïve “quotes” and emoji 🚢 sit here."
TINY = {
    "version": "v2.0",
    "data": [
        {"title": "Cheonan_(ship)", "paragraphs": [
            {"context": P0, "qas": [
                {"id": "q1", "question": "When did the Cheonan sink?", "is_impossible": False,
                 "answers": [{"text": "2010", "answer_start": 28}, {"text": "2010", "answer_start": 28},
                             {"text": "in 2010", "answer_start": 25}]},
                {"id": "q2", "question": "Who built the Cheonan?", "is_impossible": True, "answers": [],
                 "plausible_answers": [{"text": "warship", "answer_start": 12}]},
            ]},
            {"context": P1, "qas": [
                {"id": "q3", "question": "Where was the Defense Dialogue held?",
                 "answers": [{"text": "Yongsan", "answer_start": 39}]},
            ]},
        ]},
        {"title": "Café Señor: A/B (Über) Story!", "paragraphs": [
            {"context": P2, "qas": [
                {"id": "q4", "question": "What sits here?", "answers": [{"text": "emoji 🚢", "answer_start": 44}]},
                {"id": "q5", "question": "Who owns the café?", "is_impossible": True, "answers": []},
            ]},
        ]},
    ],
}


def interrupt_then_repair_a_milvus_update(config: Config, fresh_dir: Path, monkeypatch) -> tuple[object, object]:
    """Kill a Milvus update between its deletes and its inserts, check that it is named (PENDING, and
    loaders told to finish it), finish it, and return (the repaired store, a FAISS build from scratch)."""
    import json

    import pytest

    from rag.errors import StaleIndexError
    from rag.store import load_index, sync_index
    from rag.store.folder import PENDING
    from rag.store.milvus_store import MilvusWriter

    sync_index(config, DOCS, HashEmbedder())
    changed = [DOCS[0], document("b.md", paragraph("the submarine base")), DOCS[2]]

    def crash(self, chunks, vectors):
        raise KeyboardInterrupt("simulated kill between delete and insert")

    monkeypatch.setattr(MilvusWriter, "add", crash)
    with pytest.raises(KeyboardInterrupt):
        sync_index(config, changed, HashEmbedder())
    monkeypatch.undo()
    assert json.loads((config.index_dir / PENDING).read_text()) == ["b.md"]
    with pytest.raises(StaleIndexError, match="was interrupted; finish it with: rag index"):
        load_index(config, "fake-hash-embedder")
    store, report = sync_index(config, changed, HashEmbedder())
    assert report.changed == ("b.md",) and not (config.index_dir / PENDING).exists()
    fresh, _ = sync_index(make_config(fresh_dir), changed, HashEmbedder())
    assert store.count() == fresh.count()
    return store, fresh


def save_if_changed(png: bytes, path: Path, tolerance: float = 0.002) -> bool:
    """Write a screenshot to ``path`` unless the one there looks the same (at most ``tolerance`` of its
    pixels differ visibly: a caret's blink is not a change); says whether it wrote. Screenshots live
    in docs/, so a test run that changed nothing leaves them as they were."""
    import io

    from PIL import Image, ImageChops

    if path.exists():
        old, new = Image.open(path).convert("RGB"), Image.open(io.BytesIO(png)).convert("RGB")
        if old.size == new.size:
            diff = ImageChops.difference(old, new).convert("L").point(lambda v: 255 if v > 24 else 0)
            changed = sum(diff.histogram()[255:]) / (new.width * new.height)
            if changed <= tolerance:
                return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(png)
    temporary.replace(path)
    return True
