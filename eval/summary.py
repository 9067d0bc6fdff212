"""The forms an eval result is shown in: `rag eval --json` (a contract), the summary table, the terminal lines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .runner import RECALL_KS, EvalResult


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
