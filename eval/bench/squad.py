"""The reader alone on SQuAD: EM, F1, questions per second, peak memory; on v2.0 also abstention.

    python -m rag.eval.bench.squad --data ../shared/data/squad/dev-v1.1.json [--limit N] [--backend torch,onnx] [--json]

Each question is read with its own paragraph, as one passage, by rag's reader (the same windows,
span rules and probabilities as the pipeline). On a SQuAD v2.0 file the project's abstention rule
(abstain when the best span's probability is below a threshold) is tuned on the first half of the
articles and reported on the second half.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path
from typing import Any

from rag.config import BACKENDS, Config, load_config
from rag.reader import ExtractiveReader
from rag.training.squad import Prediction, SquadExample, abstention_scores, best_threshold, load_squad, predict, score
from rag.types import Chunk

# Published dev-v1.1 scores of a well-known small reader, printed beside ours for comparison.
REFERENCE: dict[str, Any] = {"model": "distilbert-base-cased-distilled-squad (66M params, published)", "em": 0.796, "f1": 0.871}


def evaluate(config: Config, examples: list[SquadExample]) -> dict[str, Any]:
    reader = ExtractiveReader(config)
    _ = reader.backend  # load (and export, the first time) before the clock starts
    reader.read("warm up?", [Chunk("w", 0, 0, 10, "warm up it")])
    predictions, seconds = predict(reader, examples)
    result: dict[str, Any] = {
        "backend": config.reader_backend,
        "reader": reader.name,
        "n": len(examples),
        **score(examples, predictions),
        "questions_per_s": len(examples) / seconds,
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "predictions": {p.qid: p.text for p in predictions},
    }
    if any(not e.answers for e in examples):
        result["abstention"] = _abstention_report(examples, predictions, config.min_confidence)
    return result


def _abstention_report(examples: list[SquadExample], predictions: list[Prediction], configured: float) -> dict[str, Any]:
    articles = sorted({e.article for e in examples})
    tune_articles = set(articles[: len(articles) // 2])
    tune = [i for i, e in enumerate(examples) if e.article in tune_articles]
    report = [i for i, e in enumerate(examples) if e.article not in tune_articles]
    threshold = best_threshold([examples[i] for i in tune], [predictions[i] for i in tune])
    held_out = ([examples[i] for i in report], [predictions[i] for i in report])
    return {
        "tuned_on": f"first {len(tune_articles)} of {len(articles)} articles ({len(tune)} questions)",
        "reported_on": f"last {len(articles) - len(tune_articles)} articles ({len(report)} questions)",
        "best_threshold": threshold,
        "at_best_threshold": abstention_scores(*held_out, threshold),
        "at_configured_threshold": {"threshold": configured, **abstention_scores(*held_out, configured)},
        "never_abstaining": abstention_scores(*held_out, 0.0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.eval.bench.squad", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a SQuAD JSON file (v1.1 or v2.0)")
    parser.add_argument("--limit", type=int, help="the first N questions in file order")
    parser.add_argument("--reader", help="reader model folder or id (default: the shipped reader)")
    parser.add_argument("--backend", default=",".join(BACKENDS), help="comma-separated: onnx, onnx-int8, torch (default all)")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout (fractions in [0, 1])")
    args = parser.parse_args(argv)
    examples = load_squad(args.data, args.limit)
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    results = [evaluate(load_config(args.config, reader_model=args.reader, reader_backend=b), examples) for b in backends]
    if args.json:
        first = results[0]
        print(json.dumps({**first, "data": str(args.data), "backends": results, "reference": REFERENCE}, sort_keys=True))
    else:
        print(format_table(results, args.data))
    return 0


def format_table(results: list[dict[str, Any]], data: Path) -> str:
    lines = [f"{data} — {results[0]['n']} questions", "",
             f"{'reader':<58} {'EM':>6} {'F1':>6} {'q/s':>7} {'peak MB':>8}"]
    for r in results:
        lines.append(f"{r['reader'] + ' [' + r['backend'] + ']':<58} {100 * r['em']:6.1f} {100 * r['f1']:6.1f} "
                     f"{r['questions_per_s']:7.1f} {r['peak_rss_mb']:8.0f}")
    lines.append(f"{REFERENCE['model']:<58} {100 * REFERENCE['em']:6.1f} {100 * REFERENCE['f1']:6.1f} {'':>7} {'':>8}")
    for r in results:
        a = r.get("abstention")
        if a:
            best, conf = a["at_best_threshold"], a["at_configured_threshold"]
            lines += ["", f"abstention [{r['backend']}], threshold tuned on the {a['tuned_on']}, reported on the {a['reported_on']}:",
                      f"  best threshold {a['best_threshold']:.4f}: HasAns F1 {100 * best['has_ans_f1']:.1f}  "
                      f"NoAns acc {100 * best['no_ans_accuracy']:.1f}  overall F1 {100 * best['overall_f1']:.1f}",
                      f"  configured {conf['threshold']:.2f}: HasAns F1 {100 * conf['has_ans_f1']:.1f}  "
                      f"NoAns acc {100 * conf['no_ans_accuracy']:.1f}  overall F1 {100 * conf['overall_f1']:.1f}"]
    lines.append("(EM and F1 in percent here; --json gives fractions)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
