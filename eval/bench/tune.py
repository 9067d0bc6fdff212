"""Tune the whole pipeline for a reader on the dev parts of three kinds of corpus; write the report into docs/.

    python -m rag.eval.bench.tune --squad ../shared/data/squad/dev-v1.1.json --squad-v2 ../shared/data/squad/dev-v2.0.json \\
        [--out docs/tuning] [--work /tmp/rag-tune] [--dev-sample 250] [--read-budget-ms 135] [--reader DIR] \\
        [--only TEXT] [--sweep FILE] [--write-calibration]

Dev parts: the seeds with eval/gold.jsonl (news), SQuAD dev-v1.1 as a corpus (Wikipedia; 250
questions sampled from the first half of its articles), the man pages of eval/docs/ (technical
documentation; its dev documents), and SQuAD dev-v2.0 likewise for the calibration and the
threshold (it has unanswerable questions). No test part is read here: python -m rag.eval.bench.systems
reports them, beside Haystack.

1. Sweep: every chunk setting and reader window (one index and one reading each), then every
   retrieval (BM25, dense, RRF, weighted score fusion, dense re-ranking of BM25), top-k, span
   scoring and answer length from that reading. A setting's dev score is the mean over the three
   kinds of (EM + F1) / 2, never declining, so it must be good on each. Among the settings whose
   median read time on the seeds fits the budget (--read-budget-ms, 135 ms, so that a warm ask
   stays within 150 ms on the CPU that runs the tuning; run it on the slowest CPU you have), the
   best wins; of those within 0.005 of it, the fastest.
2. Calibration: logistic regression on the chosen setting's dev answers of all four corpora, each
   weighing the same, fitted to each answer's F1 with the gold (rag/calibration.py applies it).
3. Threshold: the best mean overall F1 on the dev parts among the thresholds that decline at most
   10 % of the answerable questions of every dev part.
4. Carry-over: the calibration and threshold fitted on two kinds, applied to the third, to say what
   a user should expect on documents of a kind rag was not tuned on.
--write-calibration stores calibration.json in the reader's folder, where rag finds it: a new
reader is one tuning run away from shipping.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from rag import Config
from rag.calibration import CALIBRATION_FILE
from rag.config import SPAN_SCORINGS
from rag.embedder import make_embedder
from rag.eval.bench.calibration_fit import at_threshold, calibration_error, choose_threshold, fit_calibrator
from rag.eval.bench.corpora import KINDS, Corpus, docs_corpus, seeds_corpus, squad_corpus
from rag.eval.bench.sweep import (
    AnswerSetting,
    Outcome,
    ReadSetting,
    Retrieval,
    Setting,
    accuracy,
    corpus_pipeline,
    outcomes,
    read_latency,
    read_questions,
)
from rag.eval.bench.tune_report import write_tune_report
from rag.reader import ExtractiveReader

READ_SETTINGS = (ReadSetting(400, 100), ReadSetting(600, 150), ReadSetting(800, 240), ReadSetting(600, 150, 384, 128))
RETRIEVALS = (Retrieval("bm25"), Retrieval("dense"), Retrieval("hybrid", 10), Retrieval("hybrid", 60),
              Retrieval("weighted", dense_weight=0.3), Retrieval("weighted", dense_weight=0.5),
              Retrieval("weighted", dense_weight=0.7), Retrieval("rerank", rerank_depth=20))
TOP_KS = (1, 3, 4, 5, 6, 8)
ANSWER_TOKENS = (15, 20, 30)
# The plain pipeline the product must beat: dense top 5 over short passages, raw logits, no abstention.
BASELINE = Setting(ReadSetting(400, 0), AnswerSetting("dense", 5, 60, "logits", 30))
CHOSEN_ON = ("seeds", "squad-v1.1", "docs")  # one corpus of each kind


def sweep(base: Config, corpora: list[Corpus], embedder: Any) -> list[dict[str, Any]]:
    """Every setting's dev accuracy on each corpus and its median read time on the seeds."""
    rows = []
    answers = [AnswerSetting(r.retrieval, k, r.rrf_k, scoring, tokens, r.dense_weight, r.rerank_depth)
               for r, k, scoring, tokens in itertools.product(RETRIEVALS, TOP_KS, SPAN_SCORINGS, ANSWER_TOKENS)]
    for read in READ_SETTINGS:
        reader = ExtractiveReader(dataclasses.replace(base, **dataclasses.asdict(read), max_answer_tokens=max(ANSWER_TOKENS)))
        readings, latency = {}, {}
        for corpus in corpora:
            pipeline = corpus_pipeline(base, corpus.folder, corpus.work, read, embedder, reader)
            readings[corpus.name] = read_questions(pipeline, reader, corpus.dev, RETRIEVALS, max(TOP_KS))
            if corpus.name == "seeds":
                latency = read_latency(pipeline, reader, [q.question for q in corpus.dev[:40]], TOP_KS)
        print(f"read: {read.label}", file=sys.stderr, flush=True)
        for answer in answers:
            scores = {name: accuracy(outcomes(r, answer)) for name, r in readings.items()}
            rows.append({"setting": Setting(read, answer), "scores": scores, "read_p50_s": latency[answer.top_k],
                         "objective": sum((s["em"] + s["f1"]) / 2 for s in scores.values()) / len(scores)})
    return rows


def choose(rows: list[dict[str, Any]], read_budget_s: float | None = None, tolerance: float = 0.005) -> dict[str, Any]:
    """The best dev objective among the settings that read within the budget (all, if none does);
    among those within ``tolerance`` of it, the fastest."""
    affordable = [r for r in rows if read_budget_s is None or r["read_p50_s"] <= read_budget_s] or rows
    best = max(r["objective"] for r in affordable)
    close = [r for r in affordable if r["objective"] >= best - tolerance]
    return min(close, key=lambda r: (r["read_p50_s"], -r["objective"]))


def save_sweep(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"read": dataclasses.asdict(r["setting"].read), "answer": dataclasses.asdict(r["setting"].answer),
                                 "label": r["setting"].label, "scores": r["scores"], "objective": r["objective"],
                                 "read_p50_s": r["read_p50_s"]} for r in rows], indent=1) + "\n", encoding="utf-8")


def load_sweep(path: Path) -> list[dict[str, Any]]:
    return [{**r, "setting": Setting(ReadSetting(**r["read"]), AnswerSetting(**r["answer"]))}
            for r in json.loads(path.read_text(encoding="utf-8"))]


def carry_over(dev: dict[str, list[Outcome]], span_scoring: str) -> list[dict[str, Any]]:
    """For each kind: calibration and threshold fitted on the other kinds, applied to this kind's dev parts."""
    rows = []
    for kind in dict.fromkeys(KINDS[name] for name in dev):
        fitted_on = {n: o for n, o in dev.items() if KINDS[n] != kind}
        calibrator = fit_calibrator(fitted_on, span_scoring, f"without {kind}")
        threshold, _ = choose_threshold(fitted_on, calibrator)
        for name in (n for n in dev if KINDS[n] == kind):
            rows.append({"kind": kind, "corpus": name, "fitted_on": sorted(fitted_on), "threshold": threshold,
                         **dataclasses.asdict(at_threshold(dev[name], calibrator, threshold))})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.eval.bench.tune", description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, required=True, help="SQuAD dev-v1.1 JSON")
    parser.add_argument("--squad-v2", type=Path, required=True, help="SQuAD dev-v2.0 JSON (calibration and threshold)")
    parser.add_argument("--gold", type=Path, default=Path("eval/gold.jsonl"))
    parser.add_argument("--corpus", type=Path, default=Path("seeds"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/rag-tune"), help="corpora and indexes, reused")
    parser.add_argument("--out", type=Path, default=Path("docs/tuning"), help="the report (report.md, sweep.png, results.json)")
    parser.add_argument("--dev-sample", type=int, default=250, help="SQuAD dev questions to tune on, per file")
    parser.add_argument("--write-calibration", action="store_true",
                        help=f"write {CALIBRATION_FILE} into the reader's folder")
    parser.add_argument("--read-budget-ms", type=float, default=135.0,
                        help="choose among settings whose read p50 on the seeds is within this (0: no budget)")
    parser.add_argument("--only", help="choose only among settings whose label contains this text, e.g. "
                        "'chunks 600/150, window 256/128; bm25 top 3,' to refit a reader at a given retrieval setting")
    parser.add_argument("--sweep", type=Path, help="reuse the sweep.json of an earlier run instead of sweeping")
    parser.add_argument("--reader", default="", help="a reader folder or id to tune for (default: the shipped one)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.command = "python -m rag.eval.bench.tune " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    base = Config(reader_model=args.reader)
    embedder = make_embedder(base)
    corpora = [seeds_corpus(args.gold, args.corpus, args.work),
               squad_corpus("squad-v1.1", args.squad, args.work, args.dev_sample, 1, args.seed),
               docs_corpus(args.work)]
    if args.sweep:
        rows = load_sweep(args.sweep)
    else:
        rows = sweep(base, corpora, embedder)
        save_sweep(rows, args.work / "sweep.json")  # saved at once: a later run can start from it (--sweep)
    candidates = [r for r in rows if args.only in r["setting"].label] if args.only else rows
    if not candidates:
        parser.error(f"no setting of the sweep matches --only {args.only!r}")
    chosen = choose(candidates, args.read_budget_ms / 1000 if args.read_budget_ms else None)
    setting: Setting = chosen["setting"]
    print(f"chosen: {setting.label} (dev objective {chosen['objective']:.3f})", file=sys.stderr, flush=True)

    # Calibrate and pick the threshold on the chosen setting's dev answers, read as the pipeline reads.
    tuned = [*corpora, squad_corpus("squad-v2.0", args.squad_v2, args.work, args.dev_sample, 1, args.seed)]
    config = setting.config(base)
    reader = ExtractiveReader(config)
    dev: dict[str, list[Outcome]] = {}
    for corpus in tuned:
        pipeline = corpus_pipeline(config, corpus.folder, corpus.work, setting.read, embedder, reader)
        dev[corpus.name] = outcomes(read_questions(pipeline, reader, corpus.dev, [setting.answer.mode], config.top_k), setting.answer)
    note = (f"python -m rag.eval.bench.tune: dev parts of {', '.join(c.name for c in tuned)} "
            f"({', '.join(str(len(c.dev)) for c in tuned)} questions), setting: {setting.label}")
    calibrator = fit_calibrator(dev, config.span_scoring, note)
    threshold, table = choose_threshold(dev, calibrator)
    ece = {name: calibration_error(o, calibrator) for name, o in dev.items()}
    print(f"threshold: {threshold:.2f}; dev ECE (F1) {ece}", file=sys.stderr, flush=True)
    if args.write_calibration:
        calibrator.save(Path(reader.location) / CALIBRATION_FILE)
    report = write_tune_report(args.out, rows, chosen, threshold, table, calibrator, ece, carry_over(dev, config.span_scoring),
                               {c.name: len(c.dev) for c in tuned}, args)
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
