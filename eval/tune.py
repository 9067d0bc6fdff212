"""Tune the whole pipeline on dev questions of two corpora; report the test parts at the chosen point.

    python -m rag.eval.tune --squad ../shared/data/squad/dev-v1.1.json --squad-v2 ../shared/data/squad/dev-v2.0.json \\
        --work /tmp/rag-tune --out report-tune [--dev-sample 250] [--test-every 1] [--reader DIR] [--write-calibration]

Corpora: the seeds with eval/gold.jsonl (dev part to tune, test part to report) and a SQuAD
dev-v1.1 corpus (every article a document; dev = questions of the first half of the articles,
test = the second half). With --squad-v2, SQuAD dev-v2.0 likewise, used for the calibration and
the threshold (it has unanswerable questions) and reported on its test half.

1. Sweep: every chunk setting and reader window (one index and one reading each), then every
   retrieval mode, rrf_k, top-k, span scoring and answer length from that reading. A setting's
   dev score is the mean of its EM on the seeds and on SQuAD (no abstention). Among the settings
   whose median read time on the seeds fits the budget (--read-budget-ms, 85 ms, so a warm ask
   stays under 100 ms), the best wins; of those within 0.005 of it, the fastest.
2. Calibration: logistic regression on the chosen setting's dev answers, each corpus weighted equally.
3. Threshold: the calibrated confidence below which rag abstains, best mean overall score on dev.
Any reader folder can be tuned (--reader); --write-calibration stores its calibration.json in that
folder, where rag finds it, so a new reader is one tuning run away from shipping.

4. Test: the chosen point, the shipped defaults before tuning, and a plain baseline (dense top-5
   over short passages, raw logits, no abstention), each run through Pipeline.ask end to end.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import random
import shlex
import sys
from pathlib import Path
from typing import Any

from rag import Config
from rag.calibration import CALIBRATION_FILE, Scorer
from rag.config import SPAN_SCORINGS
from rag.embedder import make_embedder
from rag.reader import ExtractiveReader

from .calibration_fit import calibration_error, choose_threshold, fit_calibrator
from .gold import GoldQuestion, load_gold, write_gold
from .runner import run_eval
from .squad_corpus import build_squad_corpus
from .sweep import (
    AnswerSetting,
    ReadSetting,
    Retrieval,
    Setting,
    accuracy,
    corpus_pipeline,
    outcomes,
    read_latency,
    read_questions,
)
from .tune_report import write_tune_report

READ_SETTINGS = (
    ReadSetting(250, 0), ReadSetting(400, 0), ReadSetting(400, 100), ReadSetting(600, 150),
    ReadSetting(800, 240), ReadSetting(800, 240, 384, 128),
)
RETRIEVALS = (Retrieval("dense"), Retrieval("bm25"), Retrieval("hybrid", 10), Retrieval("hybrid", 60))
TOP_KS = (1, 3, 5, 8)
ANSWER_TOKENS = (15, 30)
# The plain pipeline the product must beat, and the defaults as they shipped before this tuning.
BASELINE = Setting(ReadSetting(400, 0), AnswerSetting("dense", 5, 60, "logits", 30))
BEFORE = Setting(ReadSetting(800, 240), AnswerSetting("hybrid", 5, 60, "window_softmax", 30))
BEFORE_THRESHOLD = 0.15


@dataclasses.dataclass(frozen=True, slots=True)
class Corpus:
    name: str
    folder: Path
    work: Path
    dev: list[GoldQuestion]
    test: list[GoldQuestion]


def seeds_corpus(gold: Path, corpus: Path, work: Path) -> Corpus:
    questions = load_gold(gold)
    return Corpus("seeds", corpus, work / "seeds", [q for q in questions if q.split == "dev"],
                  [q for q in questions if q.split == "test"])


def squad_corpus(name: str, data: Path, work: Path, dev_sample: int, test_every: int, seed: int) -> Corpus:
    """A SQuAD file as a corpus; dev = questions on the first half of its articles, test = the rest."""
    built = build_squad_corpus(data, work / name, overwrite=True)
    records = [json.loads(line) for line in built.gold.read_text(encoding="utf-8").splitlines()]
    order = {title: i for i, title in enumerate(dict.fromkeys(r["article"] for r in records))}
    half = built.articles // 2
    dev, test = [], []
    for r in records:
        part = "dev" if order[r["article"]] < half else "test"
        (dev if part == "dev" else test).append(
            GoldQuestion(r["id"], r["question"], tuple(r["answers"]), tuple(r["doc_ids"]), part, r["kind"]))
    dev = random.Random(seed).sample(dev, min(dev_sample, len(dev)))
    return Corpus(name, built.folder, work / name, dev, test[::test_every])


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
                         "objective": sum(s["em"] for s in scores.values()) / len(scores)})
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


def evaluate(config: Config, corpus: Corpus, embedder: Any, reader: ExtractiveReader, scorer: Scorer,
             read: ReadSetting) -> dict[str, Any]:
    """The test part through Pipeline.ask: the summary, read latency and calibration error."""
    gold = corpus.work / "gold-test.jsonl"
    write_gold(gold, corpus.test, "test")
    pipeline = corpus_pipeline(config, corpus.folder, corpus.work, read, embedder, reader, scorer)
    result = run_eval(pipeline, gold, split="test")
    summary = result.summary()
    summary["read_p50_s"] = result.latency()["read"]["p50"]
    summary["ece"] = result.calibration()["ece"]
    summary["reliability"] = result.calibration()["bins"]
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.eval.tune", description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, required=True, help="SQuAD dev-v1.1 JSON")
    parser.add_argument("--squad-v2", type=Path, help="SQuAD dev-v2.0 JSON (calibration, threshold, abstention)")
    parser.add_argument("--gold", type=Path, default=Path("eval/gold.jsonl"))
    parser.add_argument("--corpus", type=Path, default=Path("seeds"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/rag-tune"), help="corpora and indexes, reused")
    parser.add_argument("--out", type=Path, default=Path("report-tune"))
    parser.add_argument("--dev-sample", type=int, default=250, help="SQuAD dev questions to tune on")
    parser.add_argument("--test-every", type=int, default=1, help="report every Nth SQuAD test question")
    parser.add_argument("--write-calibration", action="store_true",
                        help=f"write {CALIBRATION_FILE} into the reader's folder")
    parser.add_argument("--read-budget-ms", type=float, default=85.0,
                        help="choose among settings whose read p50 on the seeds is within this (0: no budget); "
                             "85 ms of reading keeps a warm ask under 100 ms")
    parser.add_argument("--rows", default="chosen,before,baseline", help="which test rows to run (comma-separated)")
    parser.add_argument("--sweep", type=Path, help="reuse the sweep.json of an earlier run instead of sweeping")
    parser.add_argument("--only", help="choose only among settings whose label contains this text, e.g. "
                        "'chunks 600/150, window 256/128; bm25 top 3,' to refit a reader's span scoring, span limit, "
                        "calibration and threshold at the shipped retrieval setting")
    parser.add_argument("--reader", default="", help="a reader folder or id to tune for (default: the shipped one)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.command = "python -m rag.eval.tune " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    base = Config(reader_model=args.reader)
    embedder = make_embedder(base)
    seeds = seeds_corpus(args.gold, args.corpus, args.work)
    squad = squad_corpus("squad-v1.1", args.squad, args.work, args.dev_sample, args.test_every, args.seed)
    if args.sweep:
        rows = load_sweep(args.sweep)
    else:
        rows = sweep(base, [seeds, squad], embedder)
        save_sweep(rows, args.out / "sweep.json")  # saved at once: a later run can start from it (--sweep)
    candidates = [r for r in rows if args.only in r["setting"].label] if args.only else rows
    if not candidates:
        parser.error(f"no setting of the sweep matches --only {args.only!r}")
    chosen = choose(candidates, args.read_budget_ms / 1000 if args.read_budget_ms else None)
    setting: Setting = chosen["setting"]
    print(f"chosen: {setting.label} (dev objective {chosen['objective']:.3f})", file=sys.stderr, flush=True)

    # Calibrate and pick the threshold on the chosen setting's dev answers.
    tuned = [seeds, squad]
    if args.squad_v2:
        tuned.append(squad_corpus("squad-v2.0", args.squad_v2, args.work, args.dev_sample, args.test_every, args.seed))
    config = setting.config(base)
    reader = ExtractiveReader(config)
    dev_outcomes = {}
    for corpus in tuned:
        pipeline = corpus_pipeline(config, corpus.folder, corpus.work, setting.read, embedder, reader)
        readings = read_questions(pipeline, reader, corpus.dev, [setting.answer.mode], config.top_k)
        dev_outcomes[corpus.name] = outcomes(readings, setting.answer)
    note = (f"python -m rag.eval.tune: dev parts of {', '.join(c.name for c in tuned)} "
            f"({', '.join(str(len(c.dev)) for c in tuned)} questions), setting: {setting.label}")
    calibrator = fit_calibrator(dev_outcomes, config.span_scoring, note)
    threshold, threshold_sweep = choose_threshold(dev_outcomes, calibrator)
    dev_ece = {name: calibration_error([calibrator.confidence(o.answer) for o in outs if o.answer],
                                       [o.em == 1.0 for o in outs if o.answer]) for name, outs in dev_outcomes.items()}
    print(f"threshold: {threshold.threshold:.2f} (mean dev overall {threshold.overall:.3f}); dev ECE {dev_ece}",
          file=sys.stderr, flush=True)
    if args.write_calibration:
        calibrator.save(Path(reader.location) / CALIBRATION_FILE)

    # Test: chosen point, the defaults before, and the baseline, end to end.
    final = dataclasses.replace(config, min_confidence=threshold.threshold)
    rows_out: dict[str, dict[str, Any]] = {}
    plans = [("chosen", setting, final, Scorer(config.span_scoring, calibrator)),
             ("before", BEFORE, dataclasses.replace(BEFORE.config(base), min_confidence=BEFORE_THRESHOLD), Scorer("window_softmax")),
             ("baseline", BASELINE, dataclasses.replace(BASELINE.config(base), min_confidence=0.0), Scorer("logits"))]
    for name, row_setting, row_config, scorer in [p for p in plans if p[0] in args.rows.split(",")]:
        row_reader = ExtractiveReader(row_config)
        rows_out[name] = {c.name: evaluate(row_config, c, embedder, row_reader, scorer, row_setting.read) for c in tuned}
        print(f"test {name}: " + ", ".join(f"{c} EM {s['em']:.3f}" for c, s in rows_out[name].items()), file=sys.stderr, flush=True)
    report = write_tune_report(args.out, rows, chosen, BASELINE, BEFORE, threshold, threshold_sweep, calibrator, dev_ece,
                               rows_out, {c.name: (len(c.dev), len(c.test)) for c in tuned}, args)
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

