"""`rag eval`: run the pipeline on gold questions and score answers, abstention and citations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.metrics import exact_match, f1, mean
from rag import Answer, GoldFileError, Pipeline


@dataclass(frozen=True, slots=True)
class GoldQuestion:
    id: str
    question: str
    answers: tuple[str, ...]  # empty: the corpus does not answer it
    doc_ids: tuple[str, ...]

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True, slots=True)
class Scored:
    gold: GoldQuestion
    answer: Answer
    em: float
    f1: float
    citation_correct: bool


@dataclass(frozen=True, slots=True)
class EvalResult:
    questions: tuple[Scored, ...]

    @property
    def answerable(self) -> list[Scored]:
        return [q for q in self.questions if q.gold.answerable]

    @property
    def unanswerable(self) -> list[Scored]:
        return [q for q in self.questions if not q.gold.answerable]

    def summary(self) -> dict[str, Any]:
        answerable, unanswerable = self.answerable, self.unanswerable
        abstained = [q for q in self.questions if q.answer.abstained]
        answered = [q for q in answerable if not q.answer.abstained]
        correct_abstentions = [q for q in unanswerable if q.answer.abstained]
        # Overall: an answerable question scores its EM, an unanswerable one 1 only if rag abstained.
        overall = [q.em for q in answerable] + [float(q.answer.abstained) for q in unanswerable]
        return {
            "n": len(self.questions),
            "answerable": len(answerable),
            "unanswerable": len(unanswerable),
            "em": mean([q.em for q in answerable]),
            "f1": mean([q.f1 for q in answerable]),
            "abstention_recall": mean([float(q.answer.abstained) for q in unanswerable]),
            "abstention_precision": len(correct_abstentions) / len(abstained) if abstained else 0.0,
            "overall": mean(overall),
            "citation_accuracy": mean([float(q.citation_correct) for q in answered]),
            "answered": len(answered),
        }


def load_gold(path: Path) -> list[GoldQuestion]:
    """Read gold questions (JSON Lines: id, question, answers, doc_ids; other keys ignored).

    Raises:
        GoldFileError: The file is missing, empty, or a line is not a valid gold question.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise GoldFileError(f"cannot read gold file {path}: {getattr(err, 'strerror', None) or err}") from None
    questions, seen = [], set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        question = _parse_gold_line(line, f"{path}, line {number}")
        if question.id in seen:
            raise GoldFileError(f"{path}, line {number}: id {question.id!r} is used twice")
        seen.add(question.id)
        questions.append(question)
    if not questions:
        raise GoldFileError(f"gold file {path} holds no questions")
    return questions


def _parse_gold_line(line: str, where: str) -> GoldQuestion:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as err:
        raise GoldFileError(f"{where}: not JSON ({err.msg})") from None
    if not isinstance(raw, dict):
        raise GoldFileError(f"{where}: expected a JSON object")
    for key, kind in (("id", str), ("question", str), ("answers", list), ("doc_ids", list)):
        if not isinstance(raw.get(key), kind):
            raise GoldFileError(f"{where}: {key!r} must be a {'string' if kind is str else 'list'}")
    if not all(isinstance(a, str) for a in raw["answers"] + raw["doc_ids"]):
        raise GoldFileError(f"{where}: 'answers' and 'doc_ids' must hold strings")
    if not raw["question"].strip():
        raise GoldFileError(f"{where}: the question is empty")
    return GoldQuestion(raw["id"], raw["question"], tuple(raw["answers"]), tuple(raw["doc_ids"]))


def run_eval(pipeline: Pipeline, gold_path: Path) -> EvalResult:
    """Ask every gold question and score the answers."""
    scored = []
    for gold in load_gold(gold_path):
        answer = pipeline.ask(gold.question)
        scored.append(score(gold, answer))
    return EvalResult(tuple(scored))


def score(gold: GoldQuestion, answer: Answer) -> Scored:
    if not gold.answerable or answer.text is None:
        return Scored(gold, answer, 0.0, 0.0, False)
    cited = answer.citations[0]
    citation_correct = cited.doc_id in gold.doc_ids and exact_match(cited.quote, gold.answers) == 1.0
    return Scored(gold, answer, exact_match(answer.text, gold.answers), f1(answer.text, gold.answers), citation_correct)


def to_json(result: EvalResult) -> dict[str, Any]:
    """The `rag eval --json` object (a contract: fractions in [0, 1]; extend, never rename)."""
    questions = [
        {**q.answer.to_json(), "id": q.gold.id, "gold_answers": list(q.gold.answers), "gold_doc_ids": list(q.gold.doc_ids),
         "em": q.em, "f1": q.f1, "citation_correct": q.citation_correct}
        for q in result.questions
    ]
    return {**result.summary(), "questions": questions}


def format_summary(result: EvalResult) -> str:
    s = result.summary()
    rows = [
        ("questions", f"{s['n']} ({s['answerable']} answerable, {s['unanswerable']} unanswerable)"),
        ("exact match", f"{s['em']:.3f}"),
        ("F1", f"{s['f1']:.3f}"),
        ("abstention recall", f"{s['abstention_recall']:.3f} (unanswerable questions rag declined)"),
        ("abstention precision", f"{s['abstention_precision']:.3f} (abstentions that were right)"),
        ("overall", f"{s['overall']:.3f} (EM on answerable, abstaining on unanswerable)"),
        ("citation accuracy", f"{s['citation_accuracy']:.3f} (of {s['answered']} answered answerable)"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
