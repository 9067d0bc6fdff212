"""Training examples that teach a reader "not here": questions paired with text that lacks their answer.

Four kinds, each given to a share of the training questions (``--negatives removed=0.3,retrieved=0.3``):

- ``removed``: the question's own paragraph with the sentence(s) holding the answer cut out — the
  near miss SQuAD v2.0 is made of: same topic, same words, no answer.
- ``retrieved``: the passages rag's own retriever (its chunker at the shipped chunk size, BM25 over
  every article of the training file) ranks highest for the question that do not hold the answer.
- ``sibling``: another paragraph of the same article.
- ``bm25``: the whole paragraph BM25 ranks highest for the question that lacks the answer.

A text "lacks the answer" when the answer's lower-cased text does not occur in it at all, so no
negative teaches the reader to ignore a true answer stated twice.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rag.chunker import chunk, sentence_around
from rag.training.squad import SquadExample
from rag.types import Document

NEGATIVE_KINDS = ("removed", "retrieved", "sibling", "bm25")
# How many of the retriever's passages are looked at, and how many negatives a question gets from them.
_RETRIEVED_DEPTH = 5
_RETRIEVED_PER_QUESTION = 2
# What is left after the answer's sentences are removed must still read as a passage.
_MIN_REMAINING_CHARS = 100


@dataclass(frozen=True, slots=True)
class Negative:
    question: str
    context: str
    kind: str


def parse_shares(spec: str) -> dict[str, float]:
    """``"removed=0.3,retrieved=0.3"`` → {"removed": 0.3, "retrieved": 0.3}; unknown kinds are errors."""
    shares: dict[str, float] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        kind, _, value = part.partition("=")
        kind = kind.strip()
        if kind not in NEGATIVE_KINDS:
            raise ValueError(f"unknown negative kind {kind!r}; choose among {', '.join(NEGATIVE_KINDS)}")
        try:
            share = float(value)
        except ValueError:
            raise ValueError(f"negative share for {kind!r} must be a number, not {value!r}") from None
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"negative share for {kind!r} must lie in [0, 1], not {share}")
        shares[kind] = share
    return shares


def mine_negatives(examples: Sequence[SquadExample], shares: dict[str, float], seed: int,
                   chunk_chars: int = 600, chunk_overlap: int = 150) -> list[Negative]:
    """Negatives of every kind in ``shares``; each kind draws its own questions (seeded, reproducible)."""
    negatives: list[Negative] = []
    for kind in NEGATIVE_KINDS:  # a fixed order: the same settings give the same list
        share = shares.get(kind, 0.0)
        if share <= 0:
            continue
        rng = random.Random(f"{seed}-{kind}")
        chosen = [e for e in examples if e.answers and rng.random() < share]
        if kind == "removed":
            negatives += removed_sentence_negatives(chosen)
        elif kind == "retrieved":
            negatives += retrieved_negatives(chosen, examples, chunk_chars, chunk_overlap)
        elif kind == "sibling":
            negatives += sibling_negatives(chosen, examples, rng)
        else:
            negatives += bm25_paragraph_negatives(chosen, examples)
    return negatives


def lacks(answer: str, text: str) -> bool:
    return answer.lower() not in text.lower()


def removed_sentence_negatives(chosen: Iterable[SquadExample]) -> list[Negative]:
    """Each question with its paragraph minus the sentence(s) that hold its answer."""
    out = []
    for e in chosen:
        start = e.answer_start
        end = start + len(e.answers[0])
        first, last = sentence_around(e.context, start, end)
        remaining = (e.context[:first].rstrip() + " " + e.context[last:].lstrip()).strip()
        if len(remaining) >= _MIN_REMAINING_CHARS and all(lacks(a, remaining) for a in e.answers):
            out.append(Negative(e.question, remaining, "removed"))
    return out


def _paragraphs(examples: Sequence[SquadExample]) -> dict[tuple[int, int], str]:
    return {(e.article, e.paragraph): e.context for e in examples}


def retrieved_negatives(chosen: Sequence[SquadExample], examples: Sequence[SquadExample],
                        chunk_chars: int, chunk_overlap: int) -> list[Negative]:
    """The passages rag's chunker and BM25 rank highest for the question, among those without its answer."""
    from rag.lexical import Bm25Index

    if not chosen:
        return []
    articles: dict[int, list[str]] = {}
    for (article, _paragraph), context in sorted(_paragraphs(examples).items()):
        articles.setdefault(article, []).append(context)
    passages = [c.text for a, paragraphs in sorted(articles.items())
                for c in chunk(Document(str(a), "\n\n".join(paragraphs), ""), chunk_chars, chunk_overlap)]
    bm25 = Bm25Index.build(passages)
    out = []
    for e in chosen:
        taken = 0
        for row, _score in bm25.search(e.question, _RETRIEVED_DEPTH):
            if all(lacks(a, passages[row]) for a in e.answers):
                out.append(Negative(e.question, passages[row], "retrieved"))
                taken += 1
                if taken == _RETRIEVED_PER_QUESTION:
                    break
    return out


def sibling_negatives(chosen: Sequence[SquadExample], examples: Sequence[SquadExample], rng: random.Random) -> list[Negative]:
    """Another paragraph of the question's article, one without its answer."""
    paragraphs = _paragraphs(examples)
    by_article: dict[int, list[tuple[int, int]]] = {}
    for key in sorted(paragraphs):
        by_article.setdefault(key[0], []).append(key)
    out = []
    for e in chosen:
        siblings = [k for k in by_article[e.article]
                    if k != (e.article, e.paragraph) and all(lacks(a, paragraphs[k]) for a in e.answers)]
        if siblings:
            out.append(Negative(e.question, paragraphs[rng.choice(siblings)], "sibling"))
    return out


def bm25_paragraph_negatives(chosen: Sequence[SquadExample], examples: Sequence[SquadExample]) -> list[Negative]:
    """The paragraph BM25 ranks highest for the question, among the top 5, that lacks its answer."""
    from rag.lexical import Bm25Index

    if not chosen:
        return []
    paragraphs = _paragraphs(examples)
    keys = sorted(paragraphs)
    bm25 = Bm25Index.build([paragraphs[k] for k in keys])
    out = []
    for e in chosen:
        for row, _score in bm25.search(e.question, 5):
            key = keys[row]
            if key != (e.article, e.paragraph) and all(lacks(a, paragraphs[key]) for a in e.answers):
                out.append(Negative(e.question, paragraphs[key], "bm25"))
                break
    return out
