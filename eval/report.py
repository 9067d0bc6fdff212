"""`rag eval --out DIR`: a Markdown report people can read, PNG plots, and the JSON beside them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rag.atomic import write_atomic

from .runner import RECALL_KS, EvalResult, Scored
from .summary import summary_rows, to_json
from .tuning import Tuning

WORST_SHOWN = 10
PLOTS = ("threshold_sweep.png", "recall_at_k.png", "calibration.png", "latency.png")


def write_report(result: EvalResult, tuning: Tuning, out: Path, gold_path: Path) -> Path:
    """Write report.md, results.json and the plots into ``out``; returns the report's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_text(out / "results.json", json.dumps(to_json(result), ensure_ascii=False, indent=1, sort_keys=True))
    _plot_sweep(tuning, out / PLOTS[0])
    _plot_recall(result, out / PLOTS[1])
    _plot_calibration(result, out / PLOTS[2])
    _plot_latency(result, out / PLOTS[3])
    report = out / "report.md"
    _write_text(report, render_markdown(result, tuning, gold_path))
    return report


def render_markdown(result: EvalResult, tuning: Tuning, gold_path: Path) -> str:
    parts = [("all", result)] + [(s, result.part(s)) for s in result.splits]
    summaries = [(name, part.summary()) for name, part in parts]
    lines = [f"# rag eval — {gold_path}", ""]
    lines += [
        f"{len(result.questions)} questions; abstention threshold {result.min_confidence:.2f}. "
        "EM/F1 on answerable questions (SQuAD normalisation); overall counts an unanswerable question "
        "as right only when rag abstains; a retrieval hit is a passage of a gold document that "
        "contains a gold answer.", "",
        "## Summary", "",
        "| metric | " + " | ".join(name for name, _ in summaries) + " |",
        "| --- | " + " | ".join("---" for _ in summaries) + " |",
    ]
    metrics = summary_rows()
    lines += [f"| {label} | " + " | ".join(fmt(s) for _, s in summaries) + " |" for label, fmt in metrics]

    latency = result.latency()
    lines += ["", "## Latency (seconds per question)", "", "| stage | p50 | p95 |", "| --- | --- | --- |"]
    lines += [f"| {stage} | {v['p50']:.3f} | {v['p95']:.3f} |" for stage, v in latency.items()]
    lines += ["", f"![latency]({PLOTS[3]})"]

    lines += ["", "## Abstention threshold", ""]
    chosen, test = tuning.chosen, tuning.test_at_chosen
    lines.append(
        f"Swept 0.00–1.00 on the **{tuning.tuned_on}** part: best overall {chosen.overall:.3f} at threshold "
        f"**{chosen.threshold:.2f}** (answers {chosen.coverage:.0%} of the questions, "
        f"{chosen.answered_accuracy:.3f} of those right)."
        + (f" On the **test** part at that threshold: overall {test.overall:.3f}, coverage {test.coverage:.0%}, "
           f"accuracy of answered {test.answered_accuracy:.3f}." if test else "")
        + (f" This run used threshold {result.min_confidence:.2f}." if abs(result.min_confidence - chosen.threshold) > 1e-9
           else " This run used that threshold.")
    )
    lines += ["", f"![threshold sweep]({PLOTS[0]})"]

    calibration = result.calibration()
    lines += ["", "## Calibration (every question's best candidate, before the threshold)", "",
              f"Expected calibration error {calibration['ece']:.3f}.", "",
              "| confidence | answers | mean confidence | exact match |", "| --- | --- | --- | --- |"]
    lines += [f"| {b['low']:.1f}–{b['high']:.1f} | {b['count']} | {b['mean_confidence']:.2f} | {b['accuracy']:.2f} |"
              for b in calibration["bins"] if b["count"]]
    lines += ["", f"![calibration]({PLOTS[2]})"]

    lines += ["", "## Retrieval", "", f"![recall@k]({PLOTS[1]})"]
    if result.ablations:
        lines += ["", "## Ablations: retrieval mode × top-k (all questions)", "",
                  "| retrieval | top-k | EM | F1 | abstention recall | overall | retrieval recall@k |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r.mode} | {r.k} | {r.em:.3f} | {r.f1:.3f} | {r.abstention_recall:.3f} | {r.overall:.3f} | {r.recall:.3f} |"
                  for r in sorted(result.ablations, key=lambda r: (r.mode, r.k))]

    worst = _worst(result.questions)
    lines += ["", f"## The {len(worst)} worst questions", ""]
    for q in worst:
        lines += _question_detail(q)
    lines += ["", "## Every question", "",
              "| id | split | kind | question | gold | answer | confidence | EM | F1 | cited |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for q in result.questions:
        lines.append(
            f"| {q.gold.id} | {q.gold.split or ''} | {q.gold.kind or ''} | {_cell(q.gold.question)} | "
            f"{_cell(' / '.join(q.gold.answers) or '(none)')} | {_cell(q.answer.text or '(abstained)')} | "
            f"{q.answer.confidence:.2f} | {q.em:.0f} | {q.f1:.2f} | {_cell(q.answer.citations[0].doc_id) if q.answer.citations else ''} |"
        )
    return "\n".join(lines) + "\n"


def _worst(questions: tuple[Scored, ...]) -> list[Scored]:
    """Wrong answers first (most confident first), then wrong abstentions; right ones never."""
    def badness(q: Scored) -> tuple[float, float]:
        if q.gold.answerable:
            return (1.0 - q.f1, q.answer.confidence if not q.answer.abstained else 0.5)
        return (0.0 if q.answer.abstained else 1.0, q.answer.confidence)

    wrong = [q for q in questions if badness(q)[0] > 0]
    return sorted(wrong, key=badness, reverse=True)[:WORST_SHOWN]


def _question_detail(q: Scored) -> list[str]:
    gold = " / ".join(q.gold.answers) or "(not in the documents)"
    got = f"“{q.answer.text}” (confidence {q.answer.confidence:.2f})" if q.answer.text else (
        f"abstained (best candidate “{(q.candidate or q.answer).text}”, confidence {q.answer.confidence:.2f})")
    lines = [f"**{q.gold.id}** {_cell(q.gold.question)}  ", f"gold: {_cell(gold)} in {', '.join(q.gold.doc_ids) or '—'}; "
             f"rag: {_cell(got)}", ""]
    for rank, hit in enumerate(q.answer.passages[:3], start=1):
        mark = " ✓" if rank <= len(q.retrieval_hits) and q.retrieval_hits[rank - 1] else ""
        lines.append(f"{rank}. `{hit.chunk.doc_id}` [{hit.chunk.start}:{hit.chunk.end}]{mark} {_cell(hit.chunk.text[:160])}…")
    return lines + [""]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _write_text(path: Path, text: str) -> None:
    write_atomic(path, text)


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_sweep(tuning: Tuning, path: Path) -> None:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    xs = [p.threshold for p in tuning.sweep]
    ax.plot(xs, [p.overall for p in tuning.sweep], label=f"overall ({tuning.tuned_on})", color="tab:blue")
    ax.plot(xs, [p.coverage for p in tuning.sweep], label=f"coverage ({tuning.tuned_on})", color="tab:green", ls="--")
    ax.plot(xs, [p.answered_accuracy for p in tuning.sweep], label=f"accuracy of answered ({tuning.tuned_on})",
            color="tab:orange", ls=":")
    if tuning.test_sweep:
        ax.plot(xs, [p.overall for p in tuning.test_sweep], label="overall (test)", color="tab:red", alpha=0.7)
    ax.axvline(tuning.chosen.threshold, color="gray", lw=1)
    ax.scatter([tuning.chosen.threshold], [tuning.chosen.overall], color="tab:blue", zorder=3)
    ax.annotate(f"chosen {tuning.chosen.threshold:.2f}", (tuning.chosen.threshold, tuning.chosen.overall),
                textcoords="offset points", xytext=(6, -14))
    ax.set(xlabel="abstention threshold (confidence)", ylabel="score", ylim=(0, 1.05), title="Abstention threshold sweep")
    ax.legend(loc="lower left", fontsize=8)
    _save(plt, fig, path)


def _plot_recall(result: EvalResult, path: Path) -> None:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4))
    if result.ablations:
        for mode in sorted({r.mode for r in result.ablations}):
            rows = sorted((r for r in result.ablations if r.mode == mode), key=lambda r: r.k)
            ax.plot([r.k for r in rows], [r.recall for r in rows], marker="o", label=mode)
    else:
        summary = result.summary()
        ax.plot(RECALL_KS, [summary[f"recall_at_{k}"] for k in RECALL_KS], marker="o", label="configured mode")
    ax.set(xlabel="k (passages retrieved)", ylabel="recall@k (answerable questions)", ylim=(0, 1.05),
           title="Retrieval recall@k")
    ax.set_xticks(RECALL_KS)
    ax.legend()
    _save(plt, fig, path)


def _plot_calibration(result: EvalResult, path: Path) -> None:
    plt = _figure()
    bins = [b for b in result.calibration()["bins"] if b["count"]]
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="gray", ls="--", lw=1, label="perfect calibration")
    ax.bar([(b["low"] + b["high"]) / 2 for b in bins], [b["accuracy"] for b in bins], width=0.09, alpha=0.6,
           label="exact match in bin")
    for b in bins:
        ax.annotate(str(b["count"]), ((b["low"] + b["high"]) / 2, b["accuracy"]), ha="center", va="bottom", fontsize=8)
    ax.set(xlabel="confidence", ylabel="accuracy (EM)", xlim=(0, 1), ylim=(0, 1.1),
           title="Calibration of candidate answers (n per bar)")
    ax.legend(loc="upper left", fontsize=8)
    _save(plt, fig, path)


def _plot_latency(result: EvalResult, path: Path) -> None:
    plt = _figure()
    stages: dict[str, list[float]] = {}
    for q in result.questions:
        for stage, seconds in (q.candidate or q.answer).timings.items():
            stages.setdefault(stage, []).append(seconds * 1000)
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.5, 4))
    everything = [v for values in stages.values() for v in values]
    # One set of bins, spaced evenly on a log scale, so the stages compare bar for bar.
    bins = np.geomspace(max(min(everything, default=1.0), 0.1), max(everything, default=10.0) * 1.01, 30)
    for stage, values in stages.items():
        ax.hist(values, bins=bins, histtype="step", linewidth=2, label=stage)
    ax.set_xscale("log")
    ax.set(xlabel="milliseconds per question (log scale)", ylabel="questions", title="Latency per stage")
    ax.legend()
    _save(plt, fig, path)
