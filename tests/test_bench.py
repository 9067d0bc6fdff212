"""The benchmark's arithmetic on literals, one corpus size measured in-process, and a tiny run of the scale part."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from rag.config import Config
from rag.eval.bench.measure import Latency, latency
from rag.eval.bench.performance import BenchResult, ReaderResult, format_table, main
from rag.eval.bench.scale import (
    SQUAD,
    ScaleResult,
    growth,
    growth_exponent,
    measure_milvus,
    measure_size,
    overlap_at_k,
)
from rag.types import Chunk
from tests.helpers import REPO, SEEDS, HashEmbedder, unit_vectors

SIZES = [2000, 10000, 20000]


@pytest.mark.parametrize(("power", "expected"), [(1.0, 1.0), (2.0, 2.0), (0.5, 0.5), (0.0, 0.0)])
def test_growth_exponent_is_exact_for_power_laws(power: float, expected: float) -> None:
    seconds = [0.003 * n**power for n in SIZES]

    assert growth_exponent(SIZES, seconds) == pytest.approx(expected, abs=1e-9)


def test_growth_exponent_fits_noisy_times_by_least_squares() -> None:
    # log-linear with +/- the same factor at the ends: the slope through them is still 1.
    assert growth_exponent([1000, 10000, 100000], [1.1, 10.0, 1 / 1.1 * 100]) == pytest.approx(1 - 2 * 0.0953 / 4.605, abs=1e-3)


def test_overlap_at_k_counts_shared_rows_in_the_top_k() -> None:
    exact = list(range(10))

    assert overlap_at_k(exact, exact) == 1.0
    assert overlap_at_k(exact[::-1], exact) == 1.0  # order within the top 10 does not matter
    assert overlap_at_k([0, 1, 2, 3, 4, 90, 91, 92, 93, 94], exact) == 0.5
    assert overlap_at_k([*range(90, 100), *exact], exact) == 0.0  # only the first k count
    assert overlap_at_k([5, 1], [1, 2, 3, 4], k=2) == 0.5
    assert overlap_at_k([7, 8, 9], [7, 8, 9]) == 1.0  # fewer than k passages: out of what exists


def test_latency_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    random.Random(0).shuffle(values)

    assert latency(values) == Latency(p50_s=50.5, p95_s=95.05)
    assert latency([0.2]) == Latency(0.2, 0.2)


def scale_result(passages: int, seconds: float) -> ScaleResult:
    timing = Latency(seconds, 2 * seconds)
    return ScaleResult(passages, passages // 2, seconds, seconds, seconds, seconds, seconds, passages / seconds, 1.0, 2.0,
                       500.0, 600.0, timing, timing, timing, 0.97)


def test_growth_of_each_time_and_none_from_one_size() -> None:
    linear = [scale_result(n, n / 1000) for n in SIZES]

    assert growth(linear) == pytest.approx({"dense_flat_build": 1.0, "dense_hnsw_build": 1.0, "bm25_build": 1.0, "query_p50": 1.0})
    assert growth(linear[:1]) == {}


def random_corpus(seed: int, passages: int, questions: int) -> tuple[list[Chunk], list[str]]:
    """Passages of 12 random words out of 3,000, and questions of 3 words from the first passages."""
    rng = random.Random(seed)
    words = [f"word{i}" for i in range(3000)]
    texts = [" ".join(rng.sample(words, 12)) for _ in range(passages)]
    chunks = [Chunk(f"p{i:03d}", 0, 0, len(t), t) for i, t in enumerate(texts)]
    return chunks, [" ".join(rng.sample(t.split(), 3)) for t in texts[:questions]]


def test_measure_size_builds_saves_and_queries(tmp_path: Path) -> None:
    passages, questions = random_corpus(seed=0, passages=300, questions=20)
    embedder = HashEmbedder()
    # Random passage vectors, not hashed ones: hashed words tie on most rows, and with ties the
    # top 10 (and so recall against it) is not well defined.
    vectors = unit_vectors(np.random.default_rng(0), 300, 64)

    result = measure_size(passages, 300, vectors, questions, embedder, Config(), 0.01)

    assert (result.passages, result.paragraphs) == (300, 300)
    assert result.embed_s == pytest.approx(3.0)
    build = result.embed_s + result.dense_flat_s + result.bm25_s + result.save_s
    assert result.passages_per_s == pytest.approx(300 / build)
    assert 0.9 <= result.hnsw_recall_at_10 <= 1.0
    assert result.disk_mb > 300 * 64 * 4 / 1e6 and result.hnsw_disk_mb > 0
    assert result.peak_rss_mb >= result.base_rss_mb > 0
    for timing in (result.query, result.flat_query, result.hnsw_query):
        assert 0 < timing.p50_s <= timing.p95_s


def test_measure_milvus_loads_and_queries_milvus_lite(tmp_path: Path) -> None:
    passages, questions = random_corpus(seed=1, passages=200, questions=15)
    vectors = unit_vectors(np.random.default_rng(1), 200, 64)

    result = measure_milvus(passages, vectors, questions, HashEmbedder(), Config(), 0.01)

    assert result.passages == 200 and result.insert_s > 0 and result.disk_mb > 0
    assert result.passages_per_s == pytest.approx(200 / (2.0 + result.insert_s))
    assert result.recall_at_10 == pytest.approx(1.0)  # FLAT: exact, like FAISS flat
    for timing in (result.query, result.dense_query):
        assert 0 < timing.p50_s <= timing.p95_s


def test_table_names_the_default_reader_and_every_size() -> None:
    result = BenchResult(None, [scale_result(n, n / 1000) for n in SIZES], growth([scale_result(n, n / 1000) for n in SIZES]),
                         [ReaderResult("onnx", True, 200, 20.0, 0.67, 0.78), ReaderResult("torch", False, 200, 17.0, 0.67, 0.78)])

    table = format_table(result)

    assert "ONNX Runtime float32 (default)" in table and "PyTorch float32 (default)" not in table
    assert all(str(n) in table for n in SIZES)
    assert "query_p50 1.00" in table


@pytest.mark.slow
def test_scale_part_runs_on_tiny_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A benchmark (slow, run by hand): it reads the full SQuAD train file, which only ../shared has.
    assert (SQUAD / "train-v1.1.json").is_file(), f"this benchmark needs {SQUAD / 'train-v1.1.json'}"
    out = tmp_path / "bench.json"

    vectors = tmp_path / "vectors.npz"
    assert main(["--parts", "scale,milvus", "--sizes", "50,100,200", "--questions", "5", "--out", str(out), "--vectors", str(vectors)]) == 0
    assert vectors.is_file()

    figures = json.loads(out.read_text(encoding="utf-8"))
    passages = [r["passages"] for r in figures["scale"]]
    assert passages == sorted(passages) and all(n >= size for n, size in zip(passages, [50, 100, 200]))
    assert set(figures["growth"]) == {"dense_flat_build", "dense_hnsw_build", "bm25_build", "query_p50"}
    assert figures["seeds"] is None and figures["reader"] == []
    assert "recall@10" in capsys.readouterr().out


def test_backends_table_puts_each_backend_beside_the_others() -> None:
    from rag.eval.bench.backends import BackendResult
    from rag.eval.bench.backends import format_table as backends_table

    def row(backend: str, default: bool, speeds: dict[int, float]) -> BackendResult:
        return BackendResult(backend, default, 1.5, Latency(0.04, 0.08), 0.74, 0.8, 10570, 0.67, 0.78, 30.0,
                             0.55, 0.62, 0.9, 0.8, speeds, 310.0, 330.0)

    table = backends_table([row("onnx", True, {2000: 120.0, 20000: 118.0}), row("torch", False, {2000: 31.0})])

    lines = table.splitlines()
    assert lines[1].startswith("onnx *") and lines[2].startswith("torch ")
    assert "emb/s 20000" in lines[0] and lines[2].split()[-3] == "-"  # torch measured at the first size only
    assert "40.0" in lines[1] and "1.50" in lines[1] and "10570" in lines[3]


def test_the_default_row_is_rag_as_it_ships() -> None:
    from rag.config import Config
    from rag.embedder import resolved_embed_backend
    from rag.eval.bench.backends import config_for, describe

    assert config_for("default") == Config()  # no backend forced: whatever mix ships
    assert config_for("torch").embed_backend == config_for("torch").reader_backend == "torch"
    config = Config()
    embed = resolved_embed_backend(config)  # "auto" made concrete: the row says what ran
    assert embed in describe("default") and config.reader_backend in describe("default") and "auto" not in describe("default")
    assert describe("onnx") == "onnx"


def test_quant_table_lists_each_variant_of_each_model() -> None:
    from rag.eval.bench.quant import format_table as quant_table

    rows = [{"model": "embedder", "variant": "float32", "file_mb": 90.4, "seeds_recall_at_5": 0.987, "squad_recall_at_5": 0.866,
             "passages_per_s": 65.2, "cosine_to_float32": 1.0},
            {"model": "reader", "variant": "int8, every MatMul", "file_mb": 23.0, "seeds_dev_em": 0.825, "squad_dev_em": 0.46,
             "seeds_em": 0.808, "reader_em": 0.6775, "reader_f1": 0.7649, "questions_per_s": 48.5}]
    lines = quant_table(rows).splitlines()
    assert lines[0].startswith("embedder") and lines[1].startswith("float32") and "0.8660" in lines[1]
    assert lines[2].startswith("reader") and lines[3].startswith("int8, every MatMul") and "0.825" in lines[3]
    assert quant_table(rows[:1]).count("\n") == 1  # no reader header without reader rows


# The lab's harness with a second system (Haystack, on PyTorch) beside rag: run by hand with the
# benchmark it serves (python -m rag.eval.bench.systems), not in the 10-minute test command.
@pytest.mark.slow
def test_systems_side_by_side_on_the_seeds(tmp_path: Path, embedder, reader) -> None:
    """bench_systems' rows on real models: rag as it ships, never declining, and Haystack 2.31 with
    rag's embedder and reader, over the same questions; a row's figures come from its replies."""
    from rag.eval.bench.haystack_system import HaystackSystem
    from rag.eval.bench.qa_systems import RagSystem, never_declining, paired_difference, run_system, score
    from rag.eval.gold import load_gold

    questions = [q for q in load_gold(REPO / "eval" / "gold.jsonl") if q.split == "test"][:6]
    questions += [q for q in load_gold(REPO / "eval" / "gold.jsonl") if q.split == "test" and not q.answerable][:2]
    rag_row, replies = run_system(RagSystem("rag", Config(), models=(embedder, reader)), "seeds", SEEDS, tmp_path, questions)
    assert rag_row.n == 8 and rag_row.unanswerable == 2 and 0 < rag_row.em <= rag_row.f1 <= 1
    assert rag_row.unanswerable_declined >= 0.5 and rag_row.p50_s > 0
    never = score("never", "seeds", questions, never_declining(replies))
    assert never.answerable_declined == 0.0 and never.unanswerable_declined == 0.0
    haystack_row, haystack_replies = run_system(HaystackSystem(), "seeds", SEEDS, tmp_path, questions)
    assert haystack_row.n == 8 and haystack_row.em > 0.5  # Haystack answers these questions with rag's reader
    assert all(r.doc_id is None or (SEEDS / r.doc_id).is_file() for r in haystack_replies)
    difference, error = paired_difference(rag_row, haystack_row)
    assert -1 <= difference <= 1 and error >= 0
