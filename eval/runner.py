"""`rag eval`: run the pipeline on gold questions and score answers, abstention, retrieval and citations."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag import Answer, Pipeline
from rag.answer import decide, with_threshold
from rag.config import RETRIEVAL_MODES, Config

from .errors import GoldFileError
from .metrics import (
    abstention_precision,
    abstention_recall,
    exact_match,
    expected_calibration_error,
    f1,
    mean,
    overall_score,
    passage_has_answer,
    percentile,
    recall_at_k,
    reciprocal_rank,
    reliability_table,
)

SPLITS = ("dev", "test")
RECALL_KS = (1, 3, 5, 10)
ABLATION_KS = (1, 3, 5, 10)


@dataclass(frozen=True, slots=True)
class GoldQuestion:
    id: str
    question: str
    answers: tuple[str, ...]  # empty: the corpus does not answer it
    doc_ids: tuple[str, ...]
    split: str | None = None  # "dev" (tune on it), "test" (report on it), or None
    kind: str | None = None  # free label, e.g. "near_miss"; shown in the report

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True, slots=True)
class Scored:
    gold: GoldQuestion
    answer: Answer  # at the configured threshold
    em: float
    f1: float
    citation_correct: bool
    # The best answer before any threshold (its confidence decides at every threshold).
    candidate: Answer | None = None
    retrieval_hits: tuple[bool, ...] = ()  # the top-10 retrieved passages: is each a hit?

    @property
    def candidate_em(self) -> float:
        text = (self.candidate or self.answer).text
        return exact_match(text, self.gold.answers) if text is not None and self.gold.answerable else 0.0

    @property
    def candidate_f1(self) -> float:
        text = (self.candidate or self.answer).text
        return f1(text, self.gold.answers) if text is not None and self.gold.answerable else 0.0


@dataclass(frozen=True, slots=True)
class AblationRow:
    mode: str
    k: int
    em: float
    f1: float
    abstention_recall: float
    overall: float
    recall: float  # retrieval recall@k on answerable questions


@dataclass(frozen=True, slots=True)
class EvalResult:
    questions: tuple[Scored, ...]
    min_confidence: float = Config.__dataclass_fields__["min_confidence"].default
    ablations: tuple[AblationRow, ...] = field(default=())

    @property
    def answerable(self) -> list[Scored]:
        return [q for q in self.questions if q.gold.answerable]

    @property
    def unanswerable(self) -> list[Scored]:
        return [q for q in self.questions if not q.gold.answerable]

    def part(self, split: str) -> EvalResult:
        return EvalResult(tuple(q for q in self.questions if q.gold.split == split), self.min_confidence)

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLITS if any(q.gold.split == s for q in self.questions)]

    def summary(self) -> dict[str, Any]:
        qs = self.questions
        answerable, unanswerable = self.answerable, self.unanswerable
        answered = [q for q in answerable if not q.answer.abstained]
        abstained = [q.answer.abstained for q in qs]
        is_answerable = [q.gold.answerable for q in qs]
        hits = [q.retrieval_hits for q in answerable if q.retrieval_hits]
        return {
            "n": len(qs),
            "answerable": len(answerable),
            "unanswerable": len(unanswerable),
            "em": mean([q.em for q in answerable]),
            "f1": mean([q.f1 for q in answerable]),
            # The best answer before the threshold: what rag would say if it never abstained.
            "em_no_abstention": mean([q.candidate_em for q in answerable]),
            "f1_no_abstention": mean([q.candidate_f1 for q in answerable]),
            "abstention_recall": abstention_recall(abstained, is_answerable),
            "abstention_precision": abstention_precision(abstained, is_answerable),
            "overall": overall_score([q.em for q in qs], abstained, is_answerable),
            "citation_accuracy": mean([float(q.citation_correct) for q in answered]),
            "answered": len(answered),
            "min_confidence": self.min_confidence,
            **{f"recall_at_{k}": mean([recall_at_k(h, k) for h in hits]) for k in RECALL_KS},
            "mrr": mean([reciprocal_rank(h) for h in hits]),
        }

    def latency(self) -> dict[str, dict[str, float]]:
        """p50 and p95 seconds per stage (retrieve, read) and end to end."""
        stages: dict[str, list[float]] = {}
        for q in self.questions:
            for stage, seconds in (q.candidate or q.answer).timings.items():
                stages.setdefault(stage, []).append(seconds)
        return {stage: {"p50": percentile(v, 50), "p95": percentile(v, 95)} for stage, v in stages.items()}

    def calibration(self, bins: int = 10) -> dict[str, Any]:
        """Reliability of the confidence: every question's best candidate answer (before the
        threshold), binned by confidence, against how often it is right (EM; never, for a
        question the documents do not answer)."""
        candidates = [q for q in self.questions if (q.candidate or q.answer).text is not None]
        table = reliability_table(
            [(q.candidate or q.answer).confidence for q in candidates], [q.candidate_em == 1.0 for q in candidates], bins
        )
        return {
            "ece": expected_calibration_error(table),
            "bins": [{"low": b.low, "high": b.high, "count": b.count, "mean_confidence": b.mean_confidence,
                      "accuracy": b.accuracy} for b in table],
        }


def load_gold(path: Path) -> list[GoldQuestion]:
    """Read gold questions (JSON Lines: id, question, answers, doc_ids; optional split, kind).

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
    split = raw.get("split")
    if split is not None and split not in SPLITS:
        raise GoldFileError(f"{where}: 'split' must be \"dev\" or \"test\", not {split!r}")
    kind = raw.get("kind")
    return GoldQuestion(
        raw["id"], raw["question"], tuple(raw["answers"]), tuple(raw["doc_ids"]), split,
        kind if isinstance(kind, str) else None,
    )


def run_eval(pipeline: Pipeline, gold_path: Path, split: str | None = None, ablations: bool = False) -> EvalResult:
    """Ask every gold question (of one split, if given) and score the answers.

    Each question is answered once with no threshold; the configured threshold is then applied, so
    the same run also gives the abstention sweep. With ``ablations``, every retrieval mode and
    top-k in ABLATION_KS is scored too, reading each retrieved passage once per question.
    """
    questions = load_gold(gold_path)
    if split is not None:
        questions = [q for q in questions if q.split == split]
        if not questions:
            raise GoldFileError(f"gold file {gold_path} has no questions with \"split\": \"{split}\"")
    threshold = pipeline.config.min_confidence
    scored = []
    for gold in questions:
        candidate = pipeline.ask(gold.question, min_confidence=0.0)
        hits = tuple(
            passage_has_answer(h.chunk.text, h.chunk.doc_id, gold.doc_ids, gold.answers)
            for h in pipeline.search(gold.question, max(RECALL_KS))
        )
        base = score(gold, with_threshold(candidate, threshold))
        scored.append(Scored(base.gold, base.answer, base.em, base.f1, base.citation_correct, candidate, hits))
    rows = _ablations(pipeline, questions, threshold) if ablations else ()
    return EvalResult(tuple(scored), threshold, rows)


def score(gold: GoldQuestion, answer: Answer) -> Scored:
    if not gold.answerable or answer.text is None:
        return Scored(gold, answer, 0.0, 0.0, False)
    cited = answer.citations[0]
    citation_correct = cited.doc_id in gold.doc_ids and exact_match(cited.quote, gold.answers) == 1.0
    return Scored(gold, answer, exact_match(answer.text, gold.answers), f1(answer.text, gold.answers), citation_correct)


def _ablations(pipeline: Pipeline, questions: list[GoldQuestion], threshold: float) -> tuple[AblationRow, ...]:
    """Every retrieval mode x top-k; a passage's reading does not depend on the others read with it."""
    results: dict[tuple[str, int], list[tuple[GoldQuestion, Answer, tuple[bool, ...]]]] = {}
    for gold in questions:
        ranked = {mode: pipeline.search(gold.question, max(ABLATION_KS), mode) for mode in RETRIEVAL_MODES}
        chunks = list({h.chunk: None for hits in ranked.values() for h in hits})
        spans = pipeline.reader.read(gold.question, chunks)
        for mode, hits in ranked.items():
            flags = tuple(passage_has_answer(h.chunk.text, h.chunk.doc_id, gold.doc_ids, gold.answers) for h in hits)
            for k in ABLATION_KS:
                top = hits[:k]
                kept = {h.chunk for h in top}
                answer = decide(gold.question, [s for s in spans if s.chunk in kept], top, threshold, scorer=pipeline.scorer)
                results.setdefault((mode, k), []).append((gold, answer, flags))
    rows = []
    for (mode, k), items in results.items():
        scored = [score(gold, answer) for gold, answer, _ in items]
        abstained = [s.answer.abstained for s in scored]
        answerable = [s.gold.answerable for s in scored]
        rows.append(
            AblationRow(
                mode, k,
                em=mean([s.em for s in scored if s.gold.answerable]),
                f1=mean([s.f1 for s in scored if s.gold.answerable]),
                abstention_recall=abstention_recall(abstained, answerable),
                overall=overall_score([s.em for s in scored], abstained, answerable),
                recall=mean([recall_at_k(flags, k) for gold, _, flags in items if gold.answerable]),
            )
        )
    return tuple(rows)


def to_json(result: EvalResult) -> dict[str, Any]:
    """The `rag eval --json` object (a contract: fractions in [0, 1]; extend, never rename)."""
    questions = [
        {**q.answer.to_json(), "id": q.gold.id, "gold_answers": list(q.gold.answers), "gold_doc_ids": list(q.gold.doc_ids),
         "em": q.em, "f1": q.f1, "citation_correct": q.citation_correct, "split": q.gold.split, "kind": q.gold.kind,
         "candidate_answer": (q.candidate or q.answer).text, "candidate_confidence": round((q.candidate or q.answer).confidence, 6),
         "retrieval_hits": list(q.retrieval_hits)}
        for q in result.questions
    ]
    data: dict[str, Any] = {
        **result.summary(),
        "splits": {s: result.part(s).summary() for s in result.splits},
        "latency_s": result.latency(),
        "calibration": result.calibration(),
        "questions": questions,
    }
    if result.ablations:
        data["ablations"] = [
            {"mode": r.mode, "k": r.k, "em": r.em, "f1": r.f1, "abstention_recall": r.abstention_recall,
             "overall": r.overall, "recall": r.recall}
            for r in result.ablations
        ]
    return data


def summary_rows(recall_ks: tuple[int, ...] = RECALL_KS) -> list[tuple[str, Callable[[dict[str, Any]], str]]]:
    """(label, formatter) for each line of a summary table, shared by the terminal and the report."""
    return [
        ("questions (answerable + unanswerable)", lambda s: f"{s['n']} ({s['answerable']} + {s['unanswerable']})"),
        ("exact match", lambda s: f"{s['em']:.3f}"),
        ("F1", lambda s: f"{s['f1']:.3f}"),
        ("exact match / F1, never abstaining", lambda s: f"{s['em_no_abstention']:.3f} / {s['f1_no_abstention']:.3f}"),
        ("abstention recall", lambda s: f"{s['abstention_recall']:.3f}"),
        ("abstention precision", lambda s: f"{s['abstention_precision']:.3f}"),
        ("overall", lambda s: f"{s['overall']:.3f}"),
        ("citation accuracy", lambda s: f"{s['citation_accuracy']:.3f} (of {s['answered']})"),
        *[(f"retrieval recall@{k}", lambda s, k=k: f"{s[f'recall_at_{k}']:.3f}") for k in recall_ks],
        ("MRR@10", lambda s: f"{s['mrr']:.3f}"),
    ]


def format_summary(result: EvalResult) -> str:
    parts = [("all", result)] + [(s, result.part(s)) for s in result.splits]
    summaries = [(name, part.summary()) for name, part in parts]
    rows = summary_rows(recall_ks=(5,))
    width = max(len(name) for name, _ in rows)
    header = f"{'':<{width}}  " + "  ".join(f"{name:>16}" for name, _ in summaries)
    lines = [header] + [
        f"{label:<{width}}  " + "  ".join(f"{fmt(s):>16}" for _, s in summaries) for label, fmt in rows
    ]
    lines.append(
        f"(overall = EM on answerable, abstaining on unanswerable; "
        f"threshold {result.min_confidence:.2f})"
    )
    return "\n".join(lines)
