"""Timings of the core pipeline on a corpus: index build, cold `rag ask`, warm `Pipeline.ask`.

    python -m rag.eval.bench.core [--corpus seeds] [--gold tests/data/core_questions.jsonl] [--repeat 3]

Run it on an otherwise idle machine; it prints one table (and --json prints the figures).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rag import Pipeline
from rag.config import load_config
from rag.eval.gold import load_gold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.eval.bench.core", description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("seeds"))
    parser.add_argument("--gold", type=Path, default=Path("tests/data/core_questions.jsonl"))
    parser.add_argument("--repeat", type=int, default=3, help="cold starts and passes over the questions")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    questions = [q.question for q in load_gold(args.gold)]
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        index_dir = Path(scratch) / "index"
        builds = [_timed_cli(["index", "--rebuild"], args.corpus, index_dir) for _ in range(args.repeat)]
        figures["index_build_cli_s"] = statistics.median(builds)
        pipeline = Pipeline(load_config(corpus_dir=args.corpus, index_dir=index_dir))
        started = time.perf_counter()
        pipeline.embedder.embed(["load the model"])
        figures["embedder_load_s"] = time.perf_counter() - started
        started = time.perf_counter()
        report = pipeline.index(rebuild=True)  # with the embedder loaded: chunk, embed, write
        figures["index_build_in_process_s"] = time.perf_counter() - started
        figures["documents"] = float(len(report.added))
        figures["passages"] = float(report.passages_embedded)
        colds = [_timed_cli(["ask", questions[0], "--json"], args.corpus, index_dir) for _ in range(args.repeat)]
        figures["cold_ask_cli_s"] = statistics.median(colds)
        started = time.perf_counter()
        pipeline.warm_up()
        figures["reader_load_s"] = time.perf_counter() - started
        latencies = []
        for _ in range(args.repeat):
            for question in questions:
                latencies.append(pipeline.ask(question).timings["total"])
        latencies.sort()
        figures["warm_ask_p50_s"] = statistics.median(latencies)
        figures["warm_ask_p95_s"] = latencies[int(0.95 * (len(latencies) - 1))]
        figures["warm_asks"] = float(len(latencies))
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    else:
        for name, value in figures.items():
            print(f"{name:<26} {value:8.3f}")
    return 0


def _timed_cli(args: list[str], corpus: Path, index_dir: Path) -> float:
    command = [sys.executable, "-m", "rag", *args, "--corpus", str(corpus), "--index", str(index_dir), "-q"]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
