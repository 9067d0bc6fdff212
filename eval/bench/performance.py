"""Performance of rag: latency on seeds/, index growth on SQuAD passages, flat vs HNSW, reader speed.

    python -m rag.eval.bench.performance [--sizes 2000,10000,20000] [--questions 200] [--out bench.json] [--parts seeds,scale,reader]

Run it by hand on an otherwise idle machine: figures taken under load mean little. The SQuAD
train paragraphs are the corpus (each one a document, chunked as rag chunks); the first
--questions dev-v1.1 questions are the queries and the reader's test. The largest corpus is
embedded once and its vectors reused for every size and index kind, so embedding time is
reported per passage times passages: it dominates building, and it grows linearly by nature.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rag import Pipeline
from rag.config import Config
from rag.eval.bench import backends as backends_bench
from rag.eval.bench.measure import Latency, latency
from rag.eval.bench.scale import SQUAD, MilvusResult, ScaleResult, growth, run_scale
from rag.eval.bench.squad import evaluate
from rag.eval.gold import load_gold
from rag.training.squad import SquadExample, load_squad

REPO = Path(__file__).resolve().parents[2]
COLD_STARTS = 3
WARM_PASSES = 2
PARTS = {"seeds", "scale", "reader", "milvus", "backends"}
READER_FORMATS = {"torch": "PyTorch float32", "onnx": "ONNX Runtime float32", "onnx-int8": "ONNX Runtime int8"}


@dataclass(frozen=True, slots=True)
class SeedsResult:
    passages: int
    asks: int  # every gold question, WARM_PASSES times
    cold_ask_s: float  # `rag ask` in a new process, index present: median of COLD_STARTS
    retrieve: Latency
    read: Latency
    total: Latency


@dataclass(frozen=True, slots=True)
class ReaderResult:
    backend: str
    default: bool
    questions: int
    questions_per_s: float
    em: float
    f1: float


@dataclass(frozen=True, slots=True)
class BenchResult:
    seeds: SeedsResult | None
    scale: list[ScaleResult]
    growth: dict[str, float]  # b in log(time) = a + b log(passages); 1.0 = linear
    reader: list[ReaderResult]
    milvus: list[MilvusResult] = dataclasses.field(default_factory=list)


def run_seeds(config: Config) -> SeedsResult:
    questions = [q.question for q in load_gold(REPO / "eval" / "gold.jsonl")]
    with tempfile.TemporaryDirectory() as scratch:
        config = dataclasses.replace(config, corpus_dir=REPO / "seeds", index_dir=Path(scratch) / "index")
        pipeline = Pipeline(config)
        report = pipeline.index(rebuild=True)
        colds = [_cold_ask(questions[0], config, Path(scratch)) for _ in range(COLD_STARTS)]
        pipeline.warm_up()
        timings = [pipeline.ask(q).timings for _ in range(WARM_PASSES) for q in questions]
    parts = {name: latency([t[name] for t in timings]) for name in ("retrieve", "read", "total")}
    return SeedsResult(report.passages_embedded, len(timings), statistics.median(colds), **parts)


def _cold_ask(question: str, config: Config, cwd: Path) -> float:
    # Run from a scratch folder so a rag.toml in the caller's directory does not apply.
    command = [sys.executable, "-m", "rag", "ask", question, "--corpus", str(config.corpus_dir),
               "--index", str(config.index_dir), "-q"]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=cwd)
    return time.perf_counter() - started


def run_reader(examples: list[SquadExample], config: Config) -> list[ReaderResult]:
    """The default backend against PyTorch float32, each question with its own paragraph."""
    default = config.reader_backend
    backends = list(dict.fromkeys([default, "torch"]))
    results = []
    for backend in backends:
        r = evaluate(dataclasses.replace(config, reader_backend=backend), examples)
        results.append(ReaderResult(backend, backend == default, r["n"], r["questions_per_s"], r["em"], r["f1"]))
    return results


def format_table(result: BenchResult) -> str:
    lines: list[str] = []
    if s := result.seeds:
        lines += [f"seeds/: {s.passages} passages; cold `rag ask` {s.cold_ask_s:.2f} s (median of {COLD_STARTS}); "
                  f"warm, {s.asks} asks, p50/p95 ms:",
                  *(f"  {name:<9} {1e3 * t.p50_s:8.1f} {1e3 * t.p95_s:8.1f}"
                    for name, t in (("retrieve", s.retrieve), ("read", s.read), ("total", s.total))), ""]
    if result.scale:
        lines += ["SQuAD passages: build seconds, size, memory, retrieve() latency (embed + dense + BM25 + fusion)",
                  f"{'passages':>9} {'embed*':>8} {'flat':>7} {'hnsw':>7} {'bm25':>7} {'pass/s':>7} {'disk MB':>8} "
                  f"{'base MB':>8} {'peak MB':>8} {'q p50 ms':>9} {'q p95 ms':>9}"]
        lines += [f"{r.passages:>9} {r.embed_s:8.1f} {r.dense_flat_s:7.3f} {r.dense_hnsw_s:7.3f} {r.bm25_s:7.3f} "
                  f"{r.passages_per_s:7.1f} {r.disk_mb:8.1f} {r.base_rss_mb:8.0f} {r.peak_rss_mb:8.0f} "
                  f"{1e3 * r.query.p50_s:9.1f} {1e3 * r.query.p95_s:9.1f}" for r in result.scale]
        lines += ["* embedding, measured once on the largest set: seconds per passage x passages",
                  "growth exponents (1.0 = linear): " + ", ".join(f"{k} {b:.2f}" for k, b in result.growth.items()), "",
                  "dense search alone, top 10: flat (exact) vs HNSW",
                  f"{'passages':>9} {'recall@10':>10} {'flat p50/p95 ms':>16} {'hnsw p50/p95 ms':>16} {'hnsw MB':>8}"]
        lines += [f"{r.passages:>9} {r.hnsw_recall_at_10:10.3f} {1e3 * r.flat_query.p50_s:7.2f}/{1e3 * r.flat_query.p95_s:<8.2f} "
                  f"{1e3 * r.hnsw_query.p50_s:7.2f}/{1e3 * r.hnsw_query.p95_s:<8.2f} {r.hnsw_disk_mb:8.1f}" for r in result.scale]
        lines.append("")
    if result.milvus:
        lines += ["Milvus Lite (store = \"milvus\"), the same passages and vectors: insert seconds, end-to-end passages/s",
                  "(embedding included), retrieve() latency (hybrid: dense + Milvus full-text), dense top-10 recall vs flat",
                  f"{'passages':>9} {'insert':>8} {'pass/s':>7} {'disk MB':>8} {'q p50 ms':>9} {'q p95 ms':>9} "
                  f"{'dense p50 ms':>12} {'recall@10':>10}"]
        lines += [f"{r.passages:>9} {r.insert_s:8.1f} {r.passages_per_s:7.1f} {r.disk_mb:8.1f} {1e3 * r.query.p50_s:9.1f} "
                  f"{1e3 * r.query.p95_s:9.1f} {1e3 * r.dense_query.p50_s:12.2f} {r.recall_at_10:10.3f}" for r in result.milvus]
        lines.append("")
    if result.reader:
        lines += [f"reader, {result.reader[0].questions} SQuAD dev questions, each with its own paragraph:"]
        lines += [f"  {READER_FORMATS[r.backend] + (' (default)' if r.default else ''):<26} {r.questions_per_s:6.1f} questions/s  "
                  f"EM {100 * r.em:5.1f}  F1 {100 * r.f1:5.1f}" for r in result.reader]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.eval.bench.performance", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,10000,20000", help="passages per corpus, comma-separated")
    parser.add_argument("--questions", type=int, default=200, help="the first N SQuAD dev-v1.1 questions")
    parser.add_argument("--parts", default="seeds,scale,reader",
                        help="which parts to run, comma-separated: seeds, scale, reader, milvus (needs the milvus extra), "
                        "backends (PyTorch vs ONNX Runtime: speed, memory, accuracy)")
    parser.add_argument("--vectors", type=Path, help="an .npz to keep the SQuAD embeddings in, and reuse when it exists")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "rag-bench.json")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    if parts - PARTS or not all(s.isdigit() and int(s) > 0 for s in args.sizes.split(",")):
        parser.error(f"--parts takes some of {', '.join(sorted(PARTS))}; --sizes takes positive whole numbers")
    config = Config()  # the defaults, not a rag.toml that happens to be in the working directory
    examples = load_squad(SQUAD / "dev-v1.1.json", args.questions)
    seeds = run_seeds(config) if "seeds" in parts else None
    sizes = [int(s) for s in args.sizes.split(",")]
    stores = [s for s in ("faiss", "milvus") if ("scale" if s == "faiss" else s) in parts]
    scale, milvus = run_scale(sizes, [e.question for e in examples], config, stores, args.vectors) if stores else ([], [])
    reader = run_reader(examples, config) if "reader" in parts else []
    if "backends" in parts:  # its own table: PyTorch and ONNX Runtime side by side
        backends_bench.main(["--sizes", args.sizes, "--squad-questions", str(args.questions),
                             "--out", str(args.out.with_name(args.out.stem + "-backends.json"))])
    result = BenchResult(seeds, scale, growth(scale), reader, milvus)
    print(format_table(result))
    args.out.write_text(json.dumps(dataclasses.asdict(result), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"\nfigures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
