"""The report of ``python -m rag.eval.bench.tune``: the sweep (table and plot), the chosen point, the
calibration, what each threshold does on each dev part, and the carry-over to an unseen kind."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from rag.calibration import Calibrator
from rag.eval.bench.calibration_fit import Decline
from rag.eval.bench.measure import cpu_name
from rag.eval.report import _figure, _save, _write_text


def write_tune_report(out: Path, rows: list[dict[str, Any]], chosen: dict[str, Any], threshold: float,
                      table: dict[float, dict[str, Decline]], calibrator: Calibrator, ece: dict[str, float],
                      carry: list[dict[str, Any]], sizes: dict[str, int], args: Any) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    _plot_sweep(rows, chosen, out / "sweep.png")
    corpora = list(next(iter(rows))["scores"])
    lines = [
        "# rag tuning report", "",
        f"Command: `{args.command}`", "",
        f"Measured {time.strftime('%Y-%m-%d')} on {cpu_name()} (read times are this CPU's). Dev questions: "
        + ", ".join(f"{n} {k}" for n, k in sizes.items()) + ". No test part is read here "
        "(python -m rag.eval.bench.systems reports them).", "",
        "## Sweep on dev (never declining; objective = mean over the kinds of (EM + F1) / 2)", "",
        "![accuracy against read latency](sweep.png)", "",
        "| setting | " + " | ".join(f"{c} EM / F1" for c in corpora) + " | objective | read p50 ms (seeds) |",
        "| --- | " + " | ".join("---" for _ in corpora) + " | --- | --- |",
    ]
    top = sorted(rows, key=lambda r: -r["objective"])[:25]
    lines += [_sweep_line(chosen, corpora, "**chosen**: ")] + [_sweep_line(r, corpora) for r in top]
    lines += [
        "", f"{len(rows)} settings in all; the read budget was {args.read_budget_ms:.0f} ms"
        + (f", and only settings containing `{args.only}` were chosen among" if args.only else "") + ".", "",
        f"## Chosen: {chosen['setting'].label}", "",
        "Calibrator (logistic regression on standardised features, fitted to each answer's F1): "
        + ", ".join(f"{f} {c:+.2f}" for f, c in zip(calibrator.features, calibrator.coefficients))
        + f", intercept {calibrator.intercept:+.2f}. Dev calibration error against F1: "
        + ", ".join(f"{n} {e:.3f}" for n, e in ece.items()) + ".", "",
        f"Threshold: **{threshold:.2f}**, the best mean overall F1 among thresholds that decline at most 10 % of the "
        "answerable questions of every dev part. What nearby thresholds do on each dev part "
        "(F1 with declines as 0 / answerable declined / unanswerable declined):", "",
        "| threshold | " + " | ".join(table[threshold]) + " |", "| --- | " + " | ".join("---" for _ in table[threshold]) + " |",
    ]
    for t in sorted(table):
        if abs(t - threshold) <= 0.10 + 1e-9 and round(t * 100) % 2 == 0 or t == threshold:
            bold = "**" if t == threshold else ""
            lines.append(f"| {bold}{t:.2f}{bold} | " + " | ".join(
                f"{d.f1:.3f} / {d.answerable_declined:.3f} / {d.unanswerable_declined:.3f}" for d in table[t].values()) + " |")
    lines += ["", "## Carry-over: fitted on two kinds, applied to the third (dev parts)", "",
              "| held-out kind | corpus | fitted on | threshold | F1 | answerable declined | unanswerable declined |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for c in carry:
        lines.append(f"| {c['kind']} | {c['corpus']} | {', '.join(c['fitted_on'])} | {c['threshold']:.2f} | {c['f1']:.3f} | "
                     f"{c['answerable_declined']:.3f} | {c['unanswerable_declined']:.3f} |")
    _write_text(out / "report.md", "\n".join(lines) + "\n")
    results = {"command": args.command, "cpu": cpu_name(), "chosen": chosen["setting"].label,
               "objective": chosen["objective"], "threshold": threshold, "calibrator": calibrator.to_json(), "ece": ece,
               "thresholds": {f"{t:.2f}": {n: dataclasses.asdict(d) for n, d in ds.items()} for t, ds in table.items()},
               "carry_over": carry}
    _write_text(out / "results.json", json.dumps(results, indent=1) + "\n")
    return out / "report.md"


def _sweep_line(row: dict[str, Any], corpora: list[str], prefix: str = "") -> str:
    cells = " | ".join(f"{row['scores'][c]['em']:.3f} / {row['scores'][c]['f1']:.3f}" for c in corpora)
    return f"| {prefix}{row['setting'].label} | {cells} | {row['objective']:.3f} | {row['read_p50_s'] * 1000:.0f} |"


def _plot_sweep(rows: list[dict[str, Any]], chosen: dict[str, Any], path: Path) -> None:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    ax.scatter([r["read_p50_s"] * 1000 for r in rows], [r["objective"] for r in rows], s=6, alpha=0.3, label="settings")
    ax.scatter([chosen["read_p50_s"] * 1000], [chosen["objective"]], s=140, marker="*", label="chosen")
    ax.set(xlabel="read latency p50 on seeds (ms)", ylabel="dev objective (mean of (EM + F1) / 2 over the kinds)",
           title="Settings sweep: accuracy against read latency")
    ax.legend()
    _save(plt, fig, path)
