"""The corpora rag is tuned and measured on, each split into a dev part (to choose on) and a test part
(to report on): the seeds (news), SQuAD dev-v1.1 and dev-v2.0 (Wikipedia; split by article halves)
and the technical documentation of eval/docs/ (man pages; split by document)."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

from rag.eval.bench.squad_corpus import build_squad_corpus
from rag.eval.gold import GoldQuestion, load_gold

REPO = Path(__file__).resolve().parents[2]
DOCS_GOLD = REPO / "eval" / "docs" / "gold.jsonl"
DOCS_CORPUS = REPO / "eval" / "docs" / "corpus"
# What kind of text each corpus is: a threshold fitted on two kinds is checked on the third.
KINDS = {"seeds": "news", "squad-v1.1": "wikipedia", "squad-v2.0": "wikipedia", "docs": "docs"}


@dataclasses.dataclass(frozen=True, slots=True)
class Corpus:
    name: str
    folder: Path
    work: Path  # where its indexes are built
    dev: list[GoldQuestion]
    test: list[GoldQuestion]


def gold_corpus(name: str, gold: Path, folder: Path, work: Path) -> Corpus:
    """A corpus folder with a gold file whose questions are marked "split": "dev" or "test"."""
    questions = load_gold(gold)
    return Corpus(name, folder, work / name, [q for q in questions if q.split == "dev"],
                  [q for q in questions if q.split == "test"])


def seeds_corpus(gold: Path, corpus: Path, work: Path) -> Corpus:
    return gold_corpus("seeds", gold, corpus, work)


def docs_corpus(work: Path, gold: Path = DOCS_GOLD, folder: Path = DOCS_CORPUS) -> Corpus:
    return gold_corpus("docs", gold, folder, work)


def squad_corpus(name: str, data: Path, work: Path, dev_sample: int, test_every: int, seed: int) -> Corpus:
    """A SQuAD file as a corpus; dev = questions on the first half of its articles, test = the rest."""
    built = build_squad_corpus(data, work / name, overwrite=True)
    records = [json.loads(line) for line in built.gold.read_text(encoding="utf-8").splitlines()]
    order = {title: i for i, title in enumerate(dict.fromkeys(r["article"] for r in records))}
    half = built.articles // 2
    dev: list[dict[str, Any]] = []
    test: list[dict[str, Any]] = []
    for r in records:
        part = "dev" if order[r["article"]] < half else "test"
        (dev if part == "dev" else test).append(
            GoldQuestion(r["id"], r["question"], tuple(r["answers"]), tuple(r["doc_ids"]), part, r["kind"]))
    dev = random.Random(seed).sample(dev, min(dev_sample, len(dev)))
    return Corpus(name, built.folder, work / name, dev, test[::test_every])
