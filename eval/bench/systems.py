"""rag beside its peers on the test parts of every corpus it is measured on, written into docs/.

    python -m rag.eval.bench.systems --squad ../shared/data/squad/dev-v1.1.json --squad-v2 ../shared/data/squad/dev-v2.0.json \\
[--systems rag,baseline,haystack] [--squad-every 10] \\
        [--reader-row NAME=CONFIG_TOML] [--reader-alone] --out docs/benchmark.md

Corpora (test parts only; nothing here is tuned): the seeds with eval/gold.jsonl, the technical
docs gold file (eval/docs/, --docs-gold), SQuAD dev-v1.1 and dev-v2.0 as corpora (all articles searched; the
questions of the second half of the articles, every Nth). Rows: rag as it ships, and the same
replies never declining; ``baseline``, a plain pipeline (dense top 5 over 400-character passages,
raw logits, never declining); ``haystack``, Haystack 2.31 with rag's embedder and reader
(eval/bench/haystack_system.py), also never declining; each ``--reader-row`` is rag with the reader,
calibration and settings of a config file (eval/readers/minilm-l6-squad.toml: the first reader as
it shipped). ``--reader-alone`` adds each reader on SQuAD with its own paragraph
(all of dev-v1.1; dev-v2.0 with the threshold tuned on its first half, reported on the second).
Run it by hand on an idle machine: every question is timed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rag import Config, load_config
from rag.embedder import make_embedder
from rag.eval.bench.corpora import DOCS_CORPUS, DOCS_GOLD, squad_corpus
from rag.eval.bench.measure import cpu_name
from rag.eval.bench.qa_systems import RagSystem, Row, never_declining, paired_difference, run_system, score
from rag.eval.bench.squad import evaluate
from rag.eval.bench.tune import BASELINE
from rag.eval.gold import GoldQuestion, load_gold
from rag.reader import ExtractiveReader
from rag.training.squad import load_squad

REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True, slots=True)
class TestCorpus:
    name: str
    folder: Path
    questions: list[GoldQuestion]


def test_corpora(args: argparse.Namespace) -> list[TestCorpus]:
    seeds = [q for q in load_gold(args.gold) if q.split == "test"]
    corpora = [TestCorpus("seeds", args.corpus, seeds)]
    if args.docs_gold.is_file():
        corpora.append(TestCorpus("docs", args.docs_corpus, [q for q in load_gold(args.docs_gold) if q.split == "test"]))
    for name, data in (("squad-v1.1", args.squad), ("squad-v2.0", args.squad_v2)):
        if data:
            built = squad_corpus(name, data, args.work, 0, args.squad_every, 0)
            corpora.append(TestCorpus(name, built.folder, built.test))
    return corpora


def systems(args: argparse.Namespace) -> list[Any]:
    """The systems named by --systems and --reader-row, each with the models it shares."""
    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    shipped = Config()
    models = (make_embedder(shipped), ExtractiveReader(shipped))
    made: list[Any] = []
    if "rag" in wanted:
        made.append(RagSystem("rag", shipped, models=models))
    for name, config in reader_rows(args):
        made.append(RagSystem(f"rag, reader {name}", config, models=(models[0], ExtractiveReader(config))))
    if "baseline" in wanted:
        baseline = BASELINE.config(Config())
        made.append(RagSystem("baseline", baseline, threshold=0.0, models=(models[0], ExtractiveReader(baseline))))
    if "haystack" in wanted:
        from rag.eval.bench.haystack_system import HaystackSystem

        made.append(HaystackSystem())
    return made


def measure(args: argparse.Namespace) -> dict[str, Any]:
    made = systems(args)
    rows: list[Row] = []
    for corpus in test_corpora(args):
        work = args.work / corpus.name
        for system in made:
            row, replies = run_system(system, corpus.name, corpus.folder, work, corpus.questions)
            rows.append(row)
            if system.name != "baseline":  # the baseline never declines already
                rows.append(score(f"{system.name}, never declining", corpus.name, corpus.questions, never_declining(replies)))
            print(f"{corpus.name}: {system.name} EM {row.em:.3f} F1 {row.f1:.3f}", file=sys.stderr, flush=True)
    alone = reader_alone(args) if args.reader_alone else []
    return {"rows": rows, "reader_alone": alone}


def reader_rows(args: argparse.Namespace) -> list[tuple[str, Config]]:
    """``--reader-row NAME=FILE``: rag with the reader and settings of a config file."""
    rows = []
    for spec in args.reader_row:
        name, _, path = spec.partition("=")
        rows.append((name, load_config(Path(path))))
    return rows


def reader_alone(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each reader with its own paragraph: all of dev-v1.1, and dev-v2.0's test half."""
    results = []
    for name, config in [("shipped", Config()), *reader_rows(args)]:
        v1 = evaluate(config, load_squad(args.squad))
        v2 = evaluate(config, load_squad(args.squad_v2))["abstention"]
        results.append({"reader": name, "v1_n": v1["n"], "v1_em": v1["em"], "v1_f1": v1["f1"], "questions_per_s": v1["questions_per_s"],
                        "v2_reported_on": v2["reported_on"], "v2_best": v2["at_best_threshold"], "v2_never": v2["never_abstaining"]})
        print(f"reader alone {name}: dev-v1.1 F1 {v1['f1']:.3f}", file=sys.stderr, flush=True)
    return results


def render(result: dict[str, Any], command: str, seconds: float) -> str:
    rows: list[Row] = result["rows"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    lines = [f"<!-- written by: {command} -->", "",
             f"Measured {time.strftime('%Y-%m-%d')} at commit {commit or '?'} on {cpu_name()} "
             f"({seconds / 60:.0f} minutes). Test parts only; declines count as wrong on answerable questions.", ""]
    for corpus in dict.fromkeys(r.corpus for r in rows):
        members = [r for r in rows if r.corpus == corpus]
        first = members[0]
        lines += [f"**{corpus}** ({first.n} questions: {first.answerable} answerable, {first.unanswerable} unanswerable)", "",
                  "| system | EM | F1 | answerable declined | unanswerable declined | right document cited | p50 ms | vs rag (± s.e.) |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in members:
            diff, error = paired_difference(first, r) if r is not first else (0.0, 0.0)
            versus = "" if r is first else f"{diff:+.3f} ± {error:.3f}"
            lines.append(f"| {r.system} | {r.em:.3f} | {r.f1:.3f} | {_share(r.answerable_declined, r.answerable)} | "
                         f"{_share(r.unanswerable_declined, r.unanswerable)} | {r.right_document:.3f} | {1000 * r.p50_s:.0f} | {versus} |")
        lines.append("")
    lines += ["\"vs rag\": the first row's mean per-question score minus this row's (F1 on an answerable question, "
              "1 for declining an unanswerable one) and its standard error over the questions; a difference "
              "inside about two standard errors is within the noise of the question set.", ""]
    if result["reader_alone"]:
        lines += ["**The reader alone** (each question with its own paragraph)", "",
                  "| reader | dev-v1.1 EM / F1 (all) | dev-v2.0 test half, threshold tuned on the first half: "
                  "HasAns F1 / NoAns / overall F1 | never declining: HasAns F1 | questions/s |",
                  "| --- | --- | --- | --- | --- |"]
        for a in result["reader_alone"]:
            best, never = a["v2_best"], a["v2_never"]
            lines.append(f"| {a['reader']} | {a['v1_em']:.3f} / {a['v1_f1']:.3f} ({a['v1_n']}) | {best['has_ans_f1']:.3f} / "
                         f"{best['no_ans_accuracy']:.3f} / {best['overall_f1']:.3f} | {never['has_ans_f1']:.3f} "
                         f"| {a['questions_per_s']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def _share(value: float, count: int) -> str:
    return f"{value:.3f} ({round(value * count)} of {count})" if count else "—"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.eval.bench.systems", description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, help="SQuAD dev-v1.1 JSON")
    parser.add_argument("--squad-v2", type=Path, help="SQuAD dev-v2.0 JSON")
    parser.add_argument("--gold", type=Path, default=REPO / "eval" / "gold.jsonl")
    parser.add_argument("--corpus", type=Path, default=REPO / "seeds")
    parser.add_argument("--docs-gold", type=Path, default=DOCS_GOLD, help="the technical documentation gold file")
    parser.add_argument("--docs-corpus", type=Path, default=DOCS_CORPUS, help="its corpus folder")
    parser.add_argument("--systems", default="rag,baseline,haystack", help="comma-separated: rag, baseline, haystack")
    parser.add_argument("--reader-row", action="append", default=[], metavar="NAME=CONFIG",
                        help="rag with the reader and settings of a config file, e.g. old=eval/readers/minilm-l6-squad.toml")
    parser.add_argument("--reader-alone", action="store_true", help="also each reader alone on SQuAD dev-v1.1 and dev-v2.0")
    parser.add_argument("--squad-every", type=int, default=10, help="every Nth question of the SQuAD test halves")
    parser.add_argument("--work", type=Path, default=Path("/tmp/rag-bench-systems"), help="corpora and indexes, reused")
    parser.add_argument("--out", type=Path, required=True, help="the Markdown table to write (and .json beside it)")
    args = parser.parse_args(argv)
    if args.reader_alone and not (args.squad and args.squad_v2):
        parser.error("--reader-alone needs --squad and --squad-v2")
    started = time.perf_counter()
    result = measure(args)
    command = "python -m rag.eval.bench.systems " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(result, command, time.perf_counter() - started) + "\n", encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps({"command": command, "cpu": cpu_name(),
                                                         "rows": [r.to_json() for r in result["rows"]],
                                                         "reader_alone": result["reader_alone"]}, indent=1) + "\n", encoding="utf-8")
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
