"""The scale part of ``python -m rag.eval.bench.performance``: index growth on SQuAD passages, flat vs HNSW, Milvus.

Each size runs in a fresh process, so its peak RSS is its own; the largest corpus is embedded once
and its vectors reused for every size and index kind.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from rag.chunker import chunk
from rag.config import Config
from rag.corpus import content_hash
from rag.embedder import Embedder, make_embedder
from rag.eval.bench.measure import Latency, latency, timed
from rag.index import DenseIndex
from rag.lexical import Bm25Index
from rag.retriever import IndexRetriever
from rag.store import FORMAT_VERSION, FaissStore, Manifest
from rag.store.base import PassageStore
from rag.store.faiss_store import Part
from rag.store.milvus_store import passage_id
from rag.store.segment import write_segment
from rag.training.squad import load_squad
from rag.types import Chunk, Document

SQUAD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "squad"


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



def growth_exponent(passages: Sequence[int], seconds: Sequence[float]) -> float:
    """Least-squares slope b of log(seconds) = a + b log(passages)."""
    return float(np.polyfit(np.log(passages), np.log(seconds), 1)[0])



def overlap_at_k(found: Sequence[int], exact: Sequence[int], k: int = 10) -> float:
    """Share of the exact top k that ``found`` also has in its top k."""
    reference = set(exact[:k])
    return len(set(found[:k]) & reference) / max(1, len(reference))



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
        def insert() -> PassageStore:
            writer.add(passages, vectors)
            return writer.commit(manifest, Path(scratch))

        store, insert_s = timed(insert)
        retriever = IndexRetriever(store, embedder, "hybrid", config.rrf_k)
        query_s = [timed(lambda q=q: retriever.retrieve(q, config.top_k))[1] for q in questions]
        query_vectors = embedder.embed(questions)
        flat = DenseIndex.build(vectors, kind="flat")
        found = [timed(lambda v=v: store.dense_search(v, 10)) for v in query_vectors]
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
    flat, flat_s = timed(lambda: DenseIndex.build(vectors, kind="flat"))
    hnsw, hnsw_s = timed(lambda: DenseIndex.build(vectors, kind="hnsw"))
    bm25, bm25_s = timed(lambda: Bm25Index.build([p.text for p in passages]))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        _, save_s = timed(lambda: (flat.save(folder / "dense.faiss"), bm25.save(folder / "bm25")))
        hnsw.save(folder / "hnsw.faiss")
        disk_mb = _megabytes(folder / "dense.faiss", *sorted((folder / "bm25").rglob("*")))
        hnsw_disk_mb = _megabytes(folder / "hnsw.faiss")
    manifest = Manifest(FORMAT_VERSION, embedder.name, vectors.shape[1], config.chunk_chars, config.chunk_overlap,
                        {}, len(passages), "", dense_index="flat")
    with tempfile.TemporaryDirectory() as scratch:  # the store as rag keeps it: one segment
        segment = write_segment(Path(scratch), passages, vectors, "flat")
        store = FaissStore(manifest, [Part(segment, np.zeros(len(passages), dtype=bool))])
        retriever = IndexRetriever(store, embedder, config.retrieval, config.rrf_k)
        query_s = [timed(lambda q=q: retriever.retrieve(q, config.top_k))[1] for q in questions]
    query_vectors = embedder.embed(questions)
    flat_found = [timed(lambda v=v: flat.search(v, 10)) for v in query_vectors]
    hnsw_found = [timed(lambda v=v: hnsw.search(v, 10)) for v in query_vectors]
    recall = statistics.mean(
        overlap_at_k([r for r, _ in h], [r for r, _ in f]) for (h, _), (f, _) in zip(hnsw_found, flat_found)
    )
    embed_s = embed_s_per_passage * len(passages)
    return ScaleResult(
        len(passages), paragraphs, embed_s, flat_s, hnsw_s, bm25_s, save_s,
        len(passages) / (embed_s + flat_s + bm25_s + save_s), disk_mb, hnsw_disk_mb, base_rss, _rss_mb("VmHWM"),
        latency(query_s), latency([s for _, s in flat_found]), latency([s for _, s in hnsw_found]), recall,
    )



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
    embedder = make_embedder(config)
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
        embedder = make_embedder(config)
        embedder.embed(["load the model"])
        vectors, embed_s = timed(lambda: embedder.embed([p.text for p in passages]))  # shows a progress bar
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
