"""SQuAD files for training and its benchmarks: reading them (official JSON layout) into flat, typed
examples, and scoring rag's reader on them (EM/F1; on v2.0, abstention at a threshold).

Training scores its dev samples with these; ``python -m rag.eval.bench.squad`` reports them. The answer
rules themselves (SQuAD normalisation, EM, F1) are rag.normalize's, shared with ``rag eval``."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.normalize import exact_match, f1
from rag.types import Chunk

if TYPE_CHECKING:
    from rag.reader import ExtractiveReader

_QUESTIONS_PER_CALL = 32


@dataclass(frozen=True, slots=True)
class SquadExample:
    qid: str
    question: str
    context: str
    answers: tuple[str, ...]  # empty: unanswerable (SQuAD v2.0)
    answer_start: int  # of the first answer; -1 when unanswerable
    article: int  # index of the article in the file
    paragraph: int  # index of the paragraph within its article


def load_squad(path: Path, limit: int | None = None) -> list[SquadExample]:
    """Questions in file order; ``limit`` keeps the first N."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    examples: list[SquadExample] = []
    for a, article in enumerate(data):
        for p, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                answers = [] if qa.get("is_impossible") else qa["answers"]
                examples.append(
                    SquadExample(
                        qid=qa["id"],
                        question=qa["question"],
                        context=paragraph["context"],
                        answers=tuple(x["text"] for x in answers),
                        answer_start=answers[0]["answer_start"] if answers else -1,
                        article=a,
                        paragraph=p,
                    )
                )
                if limit is not None and len(examples) >= limit:
                    return examples
    return examples


@dataclass(frozen=True, slots=True)
class Prediction:
    qid: str
    text: str
    probability: float


def predict(reader: ExtractiveReader, examples: Sequence[SquadExample]) -> tuple[list[Prediction], float]:
    """The best span for each question, and the seconds it took."""
    predictions = []
    started = time.perf_counter()
    for i in range(0, len(examples), _QUESTIONS_PER_CALL):
        group = examples[i : i + _QUESTIONS_PER_CALL]
        requests = [(e.question, [Chunk(e.qid, 0, 0, len(e.context), e.context)]) for e in group]
        for e, spans in zip(group, reader.read_many(requests)):
            best = spans[0] if spans else None
            predictions.append(Prediction(e.qid, best.text if best else "", best.probability if best else 0.0))
    return predictions, time.perf_counter() - started


def score(examples: Sequence[SquadExample], predictions: Sequence[Prediction]) -> dict[str, float]:
    """EM and F1 over the answerable questions (every prediction counts as an answer)."""
    pairs = [(e, p) for e, p in zip(examples, predictions) if e.answers]
    return {"em": mean([exact_match(p.text, e.answers) for e, p in pairs]), "f1": mean([f1(p.text, e.answers) for e, p in pairs])}


def abstention_scores(examples: Sequence[SquadExample], predictions: Sequence[Prediction], threshold: float) -> dict[str, float]:
    """SQuAD v2.0 scores when rag abstains below ``threshold``: HasAns F1, NoAns accuracy, overall F1."""
    has_ans, no_ans = [], []
    for e, p in zip(examples, predictions):
        answered = p.probability >= threshold
        if e.answers:
            has_ans.append(f1(p.text, e.answers) if answered else 0.0)
        else:
            no_ans.append(0.0 if answered else 1.0)
    return {"has_ans_f1": mean(has_ans), "no_ans_accuracy": mean(no_ans), "overall_f1": mean(has_ans + no_ans),
            "has_ans": len(has_ans), "no_ans": len(no_ans)}


def best_threshold(examples: Sequence[SquadExample], predictions: Sequence[Prediction]) -> float:
    """The threshold with the best overall F1 (ties: the lowest), swept over the predictions' probabilities."""
    # Raising the threshold past one prediction's probability turns its answer into an abstention:
    # the overall score loses its F1 (answerable) or gains 1 (unanswerable). One sorted pass.
    # Sorted by probability alone: equal probabilities must not compare an F1 with None.
    items = sorted(
        ((p.probability, f1(p.text, e.answers) if e.answers else None) for e, p in zip(examples, predictions)),
        key=lambda item: item[0],
    )
    total = sum(f for _, f in items if f is not None)
    best_total, best_t = total, 0.0
    for i, (probability, f) in enumerate(items):
        total += 1.0 if f is None else -f
        following = items[i + 1][0] if i + 1 < len(items) else probability + 1e-6
        if following > probability and total > best_total:
            best_total, best_t = total, following
    return best_t


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
