"""The report of eval/bench/files.py: its table, issue 31's targets judged, and its plot."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rag.eval.bench.measure import cpu_name


def report(rows: list[dict[str, Any]], command: str, minutes: float, store: str = "FAISS store",
           image: str = "scale-files.png") -> str:
    lines = [
        f"<!-- written by: {command} -->", "",
        "# rag on a folder of many documents", "",
        f"Measured {time.strftime('%Y-%m-%d')} on {cpu_name()} ({minutes:.0f} minutes), {store}. Corpora from "
        "eval/bench/file_corpus.py (SQuAD train paragraphs as .txt/.md/.html/.pdf/.docx, 1 KB-1 MB). Cold: a new "
        "`rag ask` process, nothing changed (median of 3), beside the same on seeds/ in the same run. Warm: "
        "`Pipeline.ask` p50 over 20 questions, beside seeds/. Changed: one .txt file edited, then a new "
        "`rag ask` about the edit (its whole run); serve: from the edit until a running `rag serve` answers from it.",
        "",
        "| files | corpus MB | passages | first index s | passages/s | index peak RSS MB | index MB on disk "
        "| cold ask s (seeds) | warm p50 ms (seeds) | changed: ask s | changed: serve s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['files']:,} | {r['corpus_mb']:.1f} | {r['passages']:,} | {r['index_seconds']:.0f} | "
            f"{r['passages_per_second']:.0f} | {r['index_peak_rss_mb']:.0f} | {r['index_mb']:.0f} | "
            f"{r['cold_ask_seconds']:.2f} ({r['cold_ask_seeds_seconds']:.2f}) | {r['warm_p50_ms']:.0f} "
            f"({r['warm_p50_seeds_ms']:.0f}) | {r['changed_ask_seconds']:.2f}{'' if r['changed_answered'] else ' (not answered)'} | "
            f"{r['serve_change_seconds']:.1f}{'' if r['serve_answered'] else ' (not answered)'} |"
        )
    lines += ["", f"![How each figure grows with the number of files]({image})", "", *targets(rows), ""]
    return "\n".join(lines)


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """Issue 31's targets, each with the figures it is judged on (the largest size, and 3k against 1k)."""
    big = rows[-1]
    lines = ["## Targets", "", f"At {big['files']:,} files unless said:", ""]

    def line(met: bool, text: str) -> None:
        lines.append(f"- {'met' if met else 'MISSED'}: {text}")

    gap = big["cold_ask_seconds"] - big["cold_ask_seeds_seconds"]
    line(gap <= 0.5, f"cold `rag ask` within 0.5 s of seeds': {big['cold_ask_seconds']:.2f} s "
                     f"vs {big['cold_ask_seeds_seconds']:.2f} s (+{gap:.2f} s)")
    ratio = big["warm_p50_ms"] / big["warm_p50_seeds_ms"]
    line(ratio <= 1.2, f"warm p50 within 20% of seeds': {big['warm_p50_ms']:.0f} ms "
                       f"vs {big['warm_p50_seeds_ms']:.0f} ms ({ratio - 1:+.0%})")
    line(big["changed_answered"] and big["changed_ask_seconds"] <= 5,
         f"one changed file answered by a new `rag ask` within 5 s: {big['changed_ask_seconds']:.2f} s")
    line(big["serve_answered"] and big["serve_change_seconds"] <= 10,
         f"one changed file answered by a running `rag serve` within 10 s of the change: {big['serve_change_seconds']:.1f} s")
    line(big["index_peak_rss_mb"] <= 1536, f"peak RSS of the first `rag index` <= 1.5 GiB: {big['index_peak_rss_mb']:.0f} MB")
    small, mid = next((r for r in rows if r["files"] == 1000), None), next((r for r in rows if r["files"] == 3000), None)
    if small and mid:
        # Read strictly: 3k may exceed 1k by 25% of 1k's peak plus what the index itself grew.
        bound = 1.25 * small["index_peak_rss_mb"] + (mid["index_mb"] - small["index_mb"])
        line(mid["index_peak_rss_mb"] <= bound,
             f"peak RSS at 3k files within 25% of 1k's plus the index's growth: {mid['index_peak_rss_mb']:.0f} MB, "
             f"bound {bound:.0f} MB (1.25 x {small['index_peak_rss_mb']:.0f} + {mid['index_mb'] - small['index_mb']:.0f})")
    return lines


def plot(rows: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = [r["files"] for r in rows]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for key, label in (("index_seconds", "first index (s)"), ("index_peak_rss_mb", "index peak RSS (MB)"),
                       ("index_mb", "index on disk (MB)")):
        axes[0].plot(files, [r[key] for r in rows], marker="o", label=label)
    for key, label in (("cold_ask_seconds", "cold rag ask (s)"), ("changed_ask_seconds", "ask after a change (s)"),
                       ("serve_change_seconds", "serve: change to answer (s)")):
        axes[1].plot(files, [r[key] for r in rows], marker="o", label=label)
    axes[2].plot(files, [r["warm_p50_ms"] for r in rows], marker="o", label="warm p50 (ms)")
    axes[2].plot(files, [r["warm_p50_seeds_ms"] for r in rows], marker="x", linestyle="--", label="seeds warm p50 (ms)")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("files")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
