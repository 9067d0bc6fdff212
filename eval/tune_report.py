"""The report of ``python -m rag.eval.tune``: the sweep (table and plot), the chosen point, the baseline
row, the test figures of every corpus, and the calibration (ECE and reliability plot)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rag.calibration import Calibrator

from .measure import cpu_name
from .metrics import SweepPoint
from .report import _figure, _save, _write_text
from .sweep import Setting

_TEST_METRICS = ("em", "f1", "em_no_abstention", "f1_no_abstention", "abstention_recall", "abstention_precision", "overall", "citation_accuracy", "ece", "read_p50_s")


def write_tune_report(out: Path, rows: list[dict[str, Any]], chosen: dict[str, Any], baseline: Setting, before: Setting,
                      threshold: SweepPoint, threshold_sweep: list[SweepPoint], calibrator: Calibrator,
                      dev_ece: dict[str, float], test: dict[str, dict[str, dict[str, Any]]],
                      sizes: dict[str, tuple[int, int]], args: Any) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    _plot_sweep(rows, chosen, baseline, before, out / "sweep.png")
    if "chosen" in test:
        _plot_reliability(test["chosen"], out / "reliability.png")
    named = {"chosen": chosen, **{n: _row_of(rows, s) for n, s in (("baseline", baseline), ("before", before))}}
    lines = [
        "# rag tuning report", "",
        f"Command: `{args.command}`", "", f"Measured {time.strftime('%Y-%m-%d')} on {cpu_name()} (read times are this CPU's).", "",
        "Questions (dev / test): " + ", ".join(f"{n} {d} / {t}" for n, (d, t) in sizes.items()) + ".", "",
        "## Sweep on dev (no abstention; objective = mean EM over seeds and SQuAD v1.1 dev)", "",
        "![accuracy against read latency](sweep.png)", "",
        "| setting | seeds EM | seeds F1 | SQuAD EM | SQuAD F1 | objective | read p50 (ms, seeds) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    top = sorted(rows, key=lambda r: -r["objective"])[:25]
    for name, row in named.items():
        if row is not None:
            lines.append(_sweep_line(row, f"**{name}**: "))
    lines += [_sweep_line(r) for r in top]
    lines += [
        "", f"{len(rows)} settings in all (`results.json` has every one).", "",
        f"## Chosen: {chosen['setting'].label}", "",
        f"Abstention threshold on the calibrated confidence: **{threshold.threshold:.2f}** (mean dev overall "
        f"{threshold.overall:.3f}, coverage {threshold.coverage:.3f}).", "",
        "Calibrator (logistic regression, standardised features): "
        + ", ".join(f"{f} {c:+.2f}" for f, c in zip(calibrator.features, calibrator.coefficients))
        + f", intercept {calibrator.intercept:+.2f}. Dev ECE: " + ", ".join(f"{n} {e:.3f}" for n, e in dev_ece.items()) + ".",
        "", "## Test parts, end to end (Pipeline.ask)", "",
        "| row | corpus | " + " | ".join(_TEST_METRICS) + " |", "| --- | --- | " + " | ".join("---" for _ in _TEST_METRICS) + " |",
    ]
    for row, corpora in test.items():
        for corpus, s in corpora.items():
            lines.append(f"| {row} | {corpus} | " + " | ".join(f"{s[m]:.3f}" for m in _TEST_METRICS) + " |")
    lines += ["", "![reliability of the chosen point's confidence on test](reliability.png)", ""]
    _write_text(out / "report.md", "\n".join(lines) + "\n")
    results = {
        "sweep": [{"setting": r["setting"].label, "scores": r["scores"], "objective": r["objective"],
                   "read_p50_s": r["read_p50_s"]} for r in rows],
        "chosen": chosen["setting"].label, "threshold": threshold.threshold,
        "threshold_sweep": [vars_of(p) for p in threshold_sweep], "calibrator": calibrator.to_json(),
        "dev_ece": dev_ece, "test": test,
    }
    _write_text(out / "results.json", json.dumps(results, indent=1, default=str) + "\n")
    return out / "report.md"


def vars_of(point: SweepPoint) -> dict[str, float]:
    return {"threshold": point.threshold, "coverage": point.coverage, "answered_accuracy": point.answered_accuracy,
            "overall": point.overall}


def _row_of(rows: list[dict[str, Any]], setting: Setting) -> dict[str, Any] | None:
    return next((r for r in rows if r["setting"] == setting), None)


def _sweep_line(row: dict[str, Any], prefix: str = "") -> str:
    seeds, squad = row["scores"]["seeds"], row["scores"]["squad-v1.1"]
    return (f"| {prefix}{row['setting'].label} | {seeds['em']:.3f} | {seeds['f1']:.3f} | {squad['em']:.3f} | "
            f"{squad['f1']:.3f} | {row['objective']:.3f} | {row['read_p50_s'] * 1000:.0f} |")


def _plot_sweep(rows: list[dict[str, Any]], chosen: dict[str, Any], baseline: Setting, before: Setting, path: Path) -> None:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    ax.scatter([r["read_p50_s"] * 1000 for r in rows], [r["objective"] for r in rows], s=8, alpha=0.4, label="settings")
    for name, row, marker in (("chosen", chosen, "*"), ("baseline", _row_of(rows, baseline), "s"),
                              ("before tuning", _row_of(rows, before), "^")):
        if row is not None:
            ax.scatter([row["read_p50_s"] * 1000], [row["objective"]], s=120, marker=marker, label=name)
    ax.set(xlabel="read latency p50 on seeds (ms)", ylabel="dev objective (mean EM, seeds + SQuAD)",
           title="Settings sweep: accuracy against read latency")
    ax.legend()
    _save(plt, fig, path)


def _plot_reliability(corpora: dict[str, dict[str, Any]], path: Path) -> None:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for name, summary in corpora.items():
        bins = [b for b in summary["reliability"] if b["count"]]
        ax.plot([b["mean_confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o",
                label=f"{name} (ECE {summary['ece']:.3f})")
    ax.set(xlabel="confidence", ylabel="accuracy (EM)", xlim=(0, 1), ylim=(0, 1.05), title="Reliability on test")
    ax.legend()
    _save(plt, fig, path)
