"""Reading SQuAD files (official JSON layout) into flat, typed examples."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


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
