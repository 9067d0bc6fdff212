"""Performance of rag: latency on seeds/, index growth on SQuAD passages, flat vs HNSW, reader speed.

    python -m rag.eval.bench [--sizes 2000,10000,20000] [--questions 200] [--out bench.json] [--parts seeds,scale,reader]

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
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from rag import Pipeline
from rag.chunker import chunk
from rag.config import Config
from rag.corpus import content_hash
from rag.embedder import Embedder, SentenceTransformerEmbedder
from rag.index import Bm25Index, DenseIndex
from rag.retriever import IndexRetriever
from rag.store import FORMAT_VERSION, FaissStore, Manifest
from rag.store.milvus_store import passage_id
from rag.types import Chunk, Document

from .runner import load_gold
from .squad import evaluate
from .squad_data import SquadExample, load_squad

REPO = Path(__file__).resolve().parents[1]
SQUAD = REPO.parent / "shared" / "data" / "squad"
COLD_STARTS = 3
WARM_PASSES = 2
PARTS = {"seeds", "scale", "reader", "milvus"}
READER_FORMATS = {"torch": "PyTorch float32", "onnx": "ONNX Runtime int8"}
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Latency:
    p50_s: float
    p95_s: float


@dataclass(frozen=True, slots=True)
class SeedsResult:
    passages: int
    asks: int  # every gold question, WARM_PASSES times
    cold_ask_s: float  # `rag ask` in a new process, index present: median of COLD_STARTS
    retrieve: Latency
    read: Latency
    total: Latency


@dataclass(frozen=True, slots=True)
class ScaleResult:
    passages: int
    paragraphs: int
    embed_s: float  # the one-off embedding time per passage, times passages
    dense_flat_s: float
    dense_hnsw_s: float
    bm25_s: float
    save_s: float
    passages_per_s: float  # end to end: passages / (embed + dense flat + bm25 + save)
    disk_mb: float  # dense flat + BM25, what rag writes by default
    hnsw_disk_mb: float
    base_rss_mb: float  # this size's own process, models loaded, before building
    peak_rss_mb: float  # its high-water mark (VmHWM): base + corpus, vectors, indexes, queries
    query: Latency  # one retrieve(): embed the question, dense + BM25 search, fusion
    flat_query: Latency  # dense search alone, top 10
    hnsw_query: Latency
    hnsw_recall_at_10: float  # mean overlap of HNSW's top 10 with flat's


@dataclass(frozen=True, slots=True)
class MilvusResult:
    """Milvus Lite at one corpus size, the same passages and vectors as the FAISS rows."""

    passages: int
    insert_s: float  # insert every passage (text + vector; Milvus derives BM25 itself), flush, index
    passages_per_s: float  # end to end: passages / (embed + insert)
    disk_mb: float
    query: Latency  # one retrieve() in hybrid mode: embed, dense + full-text search, fusion, fetch
    dense_query: Latency  # dense search alone, top 10
    recall_at_10: float  # of Milvus's dense top 10 against FAISS flat (exact)


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


def latency(seconds: Sequence[float]) -> Latency:
    return Latency(float(np.percentile(seconds, 50)), float(np.percentile(seconds, 95)))


def growth_exponent(passages: Sequence[int], seconds: Sequence[float]) -> float:
    """Least-squares slope b of log(seconds) = a + b log(passages)."""
    return float(np.polyfit(np.log(passages), np.log(seconds), 1)[0])


def overlap_at_k(found: Sequence[int], exact: Sequence[int], k: int = 10) -> float:
    """Share of the exact top k that ``found`` also has in its top k."""
    reference = set(exact[:k])
    return len(set(found[:k]) & reference) / max(1, len(reference))


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


def squad_passages(path: Path, most: int, config: Config) -> tuple[list[Chunk], list[int]]:
    """Passages of the distinct paragraphs in file order, until there are ``most``; and the
    number of passages after each paragraph, so a prefix of whole paragraphs can be taken."""
    passages: list[Chunk] = []
    ends: list[int] = []
    for i, text in enumerate(dict.fromkeys(e.context for e in load_squad(path))):
        passages += chunk(Document(f"p{i:06d}", text, content_hash(text)), config.chunk_chars, config.chunk_overlap)
        ends.append(len(passages))
        if len(passages) >= most:
            break
    return passages, ends


def measure_milvus(passages: list[Chunk], vectors: npt.NDArray[np.float32], questions: list[str], embedder: Embedder,
                   config: Config, embed_s_per_passage: float) -> MilvusResult:
    """Load the passages into a fresh Milvus Lite file and query it as rag does (hybrid)."""
    from rag.store.milvus_store import MilvusWriter

    with tempfile.TemporaryDirectory() as scratch:
        milvus_config = dataclasses.replace(config, index_dir=Path(scratch) / "index", store="milvus")
        milvus_config.index_dir.mkdir()
        writer = MilvusWriter(milvus_config, vectors.shape[1], fresh=True, rebuild=True, rebuild_command="")
        writer.delete([])  # creates the collection, outside the timing
        manifest = Manifest(FORMAT_VERSION, embedder.name, vectors.shape[1], config.chunk_chars, config.chunk_overlap,
                            {}, 0, "", store={"kind": "milvus", "uri": "", "collection": config.milvus_collection})
        store, insert_s = _timed(lambda: (writer.add(passages, vectors), writer.commit(manifest, Path(scratch)))[1])
        retriever = IndexRetriever(store, embedder, "hybrid", config.rrf_k)
        query_s = [_timed(lambda: retriever.retrieve(q, config.top_k))[1] for q in questions]
        query_vectors = embedder.embed(questions)
        flat = DenseIndex.build(vectors, kind="flat")
        found = [_timed(lambda: store.dense_search(v, 10)) for v in query_vectors]
        ids = {pid: row for row, pid in enumerate(passage_id(c) for c in passages)}
        recall = statistics.mean(
            overlap_at_k([ids[pid] for pid, _ in hits], [r for r, _ in flat.search(v, 10)])
            for (hits, _), v in zip(found, query_vectors)
        )
        disk_mb = _megabytes(*Path(scratch).rglob("*"))
    return MilvusResult(len(passages), insert_s, len(passages) / (embed_s_per_passage * len(passages) + insert_s),
                        disk_mb, latency(query_s), latency([t for _, t in found]), recall)


def measure_size(passages: list[Chunk], paragraphs: int, vectors: npt.NDArray[np.float32], questions: list[str],
                 embedder: Embedder, config: Config, embed_s_per_passage: float) -> ScaleResult:
    """Build, save and query both dense kinds and BM25 over ``passages`` (row i has vector i)."""
    DenseIndex.build(vectors[:1], kind="hnsw"), Bm25Index.build(["warm up"])  # imports are not build time
    base_rss = _rss_mb("VmRSS")
    flat, flat_s = _timed(lambda: DenseIndex.build(vectors, kind="flat"))
    hnsw, hnsw_s = _timed(lambda: DenseIndex.build(vectors, kind="hnsw"))
    bm25, bm25_s = _timed(lambda: Bm25Index.build([p.text for p in passages]))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        _, save_s = _timed(lambda: (flat.save(folder / "dense.faiss"), bm25.save(folder / "bm25")))
        hnsw.save(folder / "hnsw.faiss")
        disk_mb = _megabytes(folder / "dense.faiss", *sorted((folder / "bm25").rglob("*")))
        hnsw_disk_mb = _megabytes(folder / "hnsw.faiss")
    manifest = Manifest(FORMAT_VERSION, embedder.name, vectors.shape[1], config.chunk_chars, config.chunk_overlap,
                        {}, len(passages), "", dense_index="flat")
    retriever = IndexRetriever(FaissStore(manifest, tuple(passages), flat, bm25), embedder, config.retrieval, config.rrf_k)
    query_s = [_timed(lambda: retriever.retrieve(q, config.top_k))[1] for q in questions]
    query_vectors = embedder.embed(questions)
    flat_found = [_timed(lambda: flat.search(v, 10)) for v in query_vectors]
    hnsw_found = [_timed(lambda: hnsw.search(v, 10)) for v in query_vectors]
    recall = statistics.mean(
        overlap_at_k([r for r, _ in h], [r for r, _ in f]) for (h, _), (f, _) in zip(hnsw_found, flat_found)
    )
    embed_s = embed_s_per_passage * len(passages)
    return ScaleResult(
        len(passages), paragraphs, embed_s, flat_s, hnsw_s, bm25_s, save_s,
        len(passages) / (embed_s + flat_s + bm25_s + save_s), disk_mb, hnsw_disk_mb, base_rss, _rss_mb("VmHWM"),
        latency(query_s), latency([s for _, s in flat_found]), latency([s for _, s in hnsw_found]), recall,
    )


def _timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def _rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (high-water mark) of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _megabytes(*paths: Path) -> float:
    return sum(p.stat().st_size for p in paths if p.is_file()) / 1e6


def _measure_in_child(passages: list[Chunk], paragraphs: int, vectors_file: Path, questions: list[str],
                      config: Config, embed_s_per_passage: float, store: str) -> ScaleResult | MilvusResult:
    embedder = SentenceTransformerEmbedder(config)
    embedder.embed(["load the model"])
    vectors = np.array(np.load(vectors_file, mmap_mode="r")[: len(passages)])
    if store == "milvus":
        return measure_milvus(passages, vectors, questions, embedder, config, embed_s_per_passage)
    return measure_size(passages, paragraphs, vectors, questions, embedder, config, embed_s_per_passage)


def run_scale(sizes: Sequence[int], questions: list[str], config: Config, stores: Sequence[str],
              vectors_file: Path | None = None) -> tuple[list[ScaleResult], list[MilvusResult]]:
    """Measure nested SQuAD corpora of about ``sizes`` passages, each size and store in a fresh process.

    A fresh process per size makes each peak RSS that size's own; it includes Python, torch and
    the embedder (base_rss_mb), so the index's share is peak - base. ``vectors_file`` (.npz) keeps
    the embeddings and their measured time for a later run (e.g. ``--parts milvus`` alone).
    """
    passages, ends = squad_passages(SQUAD / "train-v1.1.json", max(sizes), config)
    cuts = [next((i + 1, n) for i, n in enumerate(ends) if n >= size or n == ends[-1]) for size in sorted(sizes)]
    print(f"{len(passages)} passages from {len(ends)} paragraphs ({len(passages) / len(ends):.2f} per paragraph)",
          file=sys.stderr)
    if vectors_file is not None and vectors_file.is_file():
        saved = np.load(vectors_file)
        vectors, embed_s = saved["vectors"], float(saved["embed_s"])
        if len(vectors) != len(passages):
            raise SystemExit(f"{vectors_file} holds {len(vectors)} vectors, not {len(passages)}; delete it")
        print(f"vectors from {vectors_file} (embedding took {embed_s:.0f} s when measured)", file=sys.stderr)
    else:
        print("embedding them once", file=sys.stderr)
        embedder = SentenceTransformerEmbedder(config)
        embedder.embed(["load the model"])
        vectors, embed_s = _timed(lambda: embedder.embed([p.text for p in passages]))  # shows a progress bar
        if vectors_file is not None:
            np.savez(vectors_file, vectors=vectors, embed_s=embed_s)
    faiss_results: list[ScaleResult] = []
    milvus_results: list[MilvusResult] = []
    with tempfile.TemporaryDirectory() as scratch:
        shared = Path(scratch) / "vectors.npy"
        np.save(shared, vectors)
        for store in stores:
            for paragraphs, n in cuts:
                print(f"measuring {store} at {n} passages in a new process", file=sys.stderr)
                with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
                    job = child.submit(_measure_in_child, passages[:n], paragraphs, shared, questions, config,
                                       embed_s / len(passages), store)
                    result = job.result()
                (milvus_results if store == "milvus" else faiss_results).append(result)  # type: ignore[arg-type]
    return faiss_results, milvus_results


def growth(results: Sequence[ScaleResult]) -> dict[str, float]:
    """Growth exponents of the build and query times over the sizes (none from a single size)."""
    times: dict[str, Callable[[ScaleResult], float]] = {
        "dense_flat_build": lambda r: r.dense_flat_s, "dense_hnsw_build": lambda r: r.dense_hnsw_s,
        "bm25_build": lambda r: r.bm25_s, "query_p50": lambda r: r.query.p50_s,
    }
    if len({r.passages for r in results}) < 2:
        return {}
    return {name: growth_exponent([r.passages for r in results], [time_of(r) for r in results]) for name, time_of in times.items()}


def run_reader(examples: list[SquadExample], config: Config) -> list[ReaderResult]:
    """PyTorch float32 against the other backend (ONNX int8), each question with its own paragraph."""
    default = config.reader_backend
    backends = ["torch", "onnx"] if default == "torch" else ["torch", default]
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
    parser = argparse.ArgumentParser(prog="python -m rag.eval.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,10000,20000", help="passages per corpus, comma-separated")
    parser.add_argument("--questions", type=int, default=200, help="the first N SQuAD dev-v1.1 questions")
    parser.add_argument("--parts", default="seeds,scale,reader",
                        help="which parts to run, comma-separated: seeds, scale, reader, milvus (needs the milvus extra)")
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
    result = BenchResult(seeds, scale, growth(scale), reader, milvus)
    print(format_table(result))
    args.out.write_text(json.dumps(dataclasses.asdict(result), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"\nfigures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
