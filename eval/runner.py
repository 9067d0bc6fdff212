"""`rag eval`: run the pipeline on gold questions and score answers, abstention, retrieval and citations."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag import Answer, Pipeline
from rag.answer import decide, with_threshold
from rag.config import RETRIEVAL_MODES, Config, RetrievalMode

from .errors import GoldFileError
from .gold import SPLITS, GoldQuestion, load_gold
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

RECALL_KS = (1, 3, 5, 10)
ABLATION_KS = (1, 3, 5, 10)


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
    min_confidence: float = Config().min_confidence
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


def run_eval(pipeline: Pipeline, gold_path: Path, split: str | None = None, ablations: bool = False) -> EvalResult:
    """Ask every gold question (of one split, if given) and score the answers.

    Each question is answered once with no threshold; the configured threshold is then applied, so
    the same run also gives the abstention sweep. With ``ablations``, every retrieval mode and
    top-k in ABLATION_KS (and the configured top-k) is scored too, reading each retrieved passage once per question.
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
    results: dict[tuple[RetrievalMode, int], list[tuple[GoldQuestion, Answer, tuple[bool, ...]]]] = {}
    ks = sorted({*ABLATION_KS, pipeline.config.top_k})  # the configured cell is the main run
    for gold in questions:
        ranked = {mode: pipeline.search(gold.question, max(ks), mode) for mode in RETRIEVAL_MODES}
        chunks = list({h.chunk: None for hits in ranked.values() for h in hits})
        spans = pipeline.reader.read(gold.question, chunks)
        for mode, hits in ranked.items():
            flags = tuple(passage_has_answer(h.chunk.text, h.chunk.doc_id, gold.doc_ids, gold.answers) for h in hits)
            for k in ks:
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
