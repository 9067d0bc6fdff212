"""DenseIndex against brute force, Bm25Index on keywords, save/load round trips, and RRF fusion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from rag.index import DenseIndex
from rag.lexical import Bm25Index, tokenize
from rag.retriever import fuse
from tests.helpers import unit_vectors


@pytest.fixture(scope="module")
def vectors() -> npt.NDArray[np.float32]:
    return unit_vectors(np.random.default_rng(0), 500, 48)


@pytest.fixture(scope="module")
def queries() -> npt.NDArray[np.float32]:
    return unit_vectors(np.random.default_rng(1), 20, 48)


def stored(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The vectors as the flat index keeps them: float16 (each component within 2^-11 of it, relative)."""
    return vectors.astype(np.float16).astype(np.float32)


def brute_force(vectors: npt.NDArray[np.float32], query: npt.NDArray[np.float32], k: int) -> tuple[list[int], npt.NDArray[np.float64]]:
    """Exact search over the vectors as a flat index stores them."""
    scores = stored(vectors).astype(np.float64) @ query.astype(np.float64)
    rows = np.argsort(-scores, kind="stable")[:k]
    return rows.tolist(), scores[rows]


@pytest.mark.parametrize("k", [1, 10, 50])
def test_dense_search_matches_brute_force_cosine(vectors: npt.NDArray[np.float32], queries: npt.NDArray[np.float32], k: int) -> None:
    index = DenseIndex.build(vectors)

    for query in queries:
        found = index.search(query, k)
        expected_rows, expected_scores = brute_force(vectors, query, k)
        assert [row for row, _ in found] == expected_rows
        np.testing.assert_allclose([score for _, score in found], expected_scores, atol=1e-5)
        # Against the float32 vectors given, a cosine moves by at most ~1e-3.
        np.testing.assert_allclose([score for _, score in found], vectors[expected_rows] @ query, atol=1e-3)


def test_dense_search_near_a_stored_vector_finds_it_first(vectors: npt.NDArray[np.float32]) -> None:
    rng = np.random.default_rng(2)
    index = DenseIndex.build(vectors)

    for row in (0, 7, 499):
        query = vectors[row] + 0.05 * rng.standard_normal(vectors.shape[1], dtype=np.float32)
        query /= np.linalg.norm(query)
        assert index.search(query, 3)[0][0] == row


def test_dense_search_with_k_above_size_returns_every_row(vectors: npt.NDArray[np.float32], queries: npt.NDArray[np.float32]) -> None:
    index = DenseIndex.build(vectors[:5])

    found = index.search(queries[0], 50)

    assert sorted(row for row, _ in found) == [0, 1, 2, 3, 4]
    assert [row for row, _ in found] == brute_force(vectors[:5], queries[0], 5)[0]


def test_dense_index_of_no_vectors_finds_nothing(queries: npt.NDArray[np.float32]) -> None:
    index = DenseIndex.build(np.zeros((0, 48), dtype=np.float32))

    assert index.size == 0
    assert index.search(queries[0], 5) == []


def test_dense_index_reports_size_dimension_and_vectors(vectors: npt.NDArray[np.float32]) -> None:
    index = DenseIndex.build(vectors)

    assert (index.size, index.dimension) == (500, 48)
    np.testing.assert_allclose(index.vectors(), stored(vectors), atol=1e-4, rtol=0)  # FAISS rounds a few otherwise


def test_dense_index_accepts_float64_and_non_contiguous_input(vectors: npt.NDArray[np.float32], queries: npt.NDArray[np.float32]) -> None:
    strided = np.asfortranarray(vectors.astype(np.float64))

    index = DenseIndex.build(strided)  # type: ignore[arg-type]

    assert [r for r, _ in index.search(queries[3], 10)] == brute_force(vectors, queries[3], 10)[0]


def test_dense_save_load_round_trip(tmp_path: Path, vectors: npt.NDArray[np.float32], queries: npt.NDArray[np.float32]) -> None:
    index = DenseIndex.build(vectors)
    path = tmp_path / "dense.faiss"

    index.save(path)
    loaded = DenseIndex.load(path)

    assert (loaded.size, loaded.dimension) == (index.size, index.dimension)
    np.testing.assert_allclose(loaded.vectors(), stored(vectors), atol=1e-4, rtol=0)
    for query in queries[:5]:
        assert loaded.search(query, 10) == index.search(query, 10)


def test_similarity_equals_dot_products(vectors: npt.NDArray[np.float32], queries: npt.NDArray[np.float32]) -> None:
    index = DenseIndex.build(vectors)
    rows = [499, 3, 3, 0, 250]

    for query in queries[:5]:
        similarities = index.similarity(query, rows)
        np.testing.assert_allclose(similarities, stored(vectors)[rows] @ query, atol=1e-5)
        assert all(-1.0 - 1e-6 <= s <= 1.0 + 1e-6 for s in similarities)
    assert index.similarity(queries[0], []) == []


def test_similarity_agrees_with_search_scores(vectors: npt.NDArray[np.float32], queries: npt.NDArray[np.float32]) -> None:
    index = DenseIndex.build(vectors)
    found = index.search(queries[0], 5)

    similarities = index.similarity(queries[0], [row for row, _ in found])

    np.testing.assert_allclose(similarities, [score for _, score in found], atol=1e-6)


# ~30 passages; exactly one mentions Yongsan.
FILLER_TOPICS = [
    "defense ministers", "the trade agreement", "regional security", "the naval exercise", "budget talks",
    "the summit in Tokyo", "missile tests", "the joint statement", "military bands", "radar incidents",
    "personnel exchanges", "the festival", "high-tech cooperation", "the coast guard", "a patrol plane",
    "the parliament", "energy prices", "the new embassy", "student exchanges", "the election",
    "port visits", "fishing rights", "air defense", "cyber security", "satellite launches",
    "the weather", "supply chains", "the treaty", "veterans",
]
RARE_PASSAGE = "The ministers later toured the Yongsan garrison in central Seoul with their delegations."
PASSAGES = [f"Officials discussed {topic} at length in Seoul, and the ministers said talks would continue." for topic in FILLER_TOPICS]
PASSAGES.insert(17, RARE_PASSAGE)
RARE_ROW = 17


@pytest.fixture(scope="module")
def bm25() -> Bm25Index:
    return Bm25Index.build(PASSAGES)


def test_bm25_size_is_number_of_passages(bm25: Bm25Index) -> None:
    assert len(PASSAGES) == 30
    assert bm25.size == 30


@pytest.mark.parametrize("question", ["Yongsan", "Which garrison did they tour, Yongsan?", "YONGSAN garrison", "yongsan ministers Seoul"])
def test_bm25_ranks_the_passage_with_a_rare_keyword_first(bm25: Bm25Index, question: str) -> None:
    found = bm25.search(question, 5)

    assert found[0][0] == RARE_ROW
    assert found[0][1] > 0
    if len(found) > 1:
        assert found[0][1] > found[1][1]


def test_bm25_search_returns_only_positive_scores_best_first(bm25: Bm25Index) -> None:
    found = bm25.search("Yongsan", 10)

    assert [row for row, _ in found] == [RARE_ROW]  # no other passage shares a term
    found = bm25.search("radar festival", 10)
    scores = [s for _, s in found]
    assert scores == sorted(scores, reverse=True)
    assert {row for row, _ in found} == {PASSAGES.index(p) for p in PASSAGES if "radar" in p or "festival" in p}


def test_bm25_ties_keep_passage_order() -> None:
    index = Bm25Index.build(["Alpha beta gamma.", "Delta epsilon.", "Alpha beta gamma.", "Zeta eta.", "Alpha beta gamma."])

    found = index.search("gamma", 10)

    assert [row for row, _ in found] == [0, 2, 4]
    assert found[0][1] == found[1][1] == found[2][1] > 0


def test_bm25_scores_cover_every_passage(bm25: Bm25Index) -> None:
    scores = bm25.scores("Yongsan garrison")

    assert scores.shape == (30,)
    assert scores.dtype == np.float32
    assert int(np.argmax(scores)) == RARE_ROW
    assert np.count_nonzero(scores) == 1


def test_bm25_unknown_words_find_nothing(bm25: Bm25Index) -> None:
    assert bm25.search("Pyongyang zeppelin qwertyuiop", 5) == []
    assert not bm25.scores("Pyongyang zeppelin").any()


@pytest.mark.parametrize("question", ["the of and is", "Is it?"])
def test_bm25_query_without_indexed_terms_finds_nothing(bm25: Bm25Index, question: str) -> None:
    # Bug in rag/index.py: tokenize() leaves no token here, and bm25s' get_scores([]) raises
    # IndexError instead of scoring nothing. IndexRetriever.retrieve() calls scores() in every
    # mode, so a question like "Is it?" crashes rag ask with a traceback.
    assert tokenize(question) == []

    assert bm25.search(question, 5) == []
    assert not bm25.scores(question).any()


def test_tokenize_lowercases_and_drops_stop_words() -> None:
    assert tokenize("The U.S. and Yongsan, in 2025!") == ["u", "s", "yongsan", "2025"]
    assert tokenize("서울 Café") == ["서울", "café"]


def test_bm25_save_load_round_trip(tmp_path: Path, bm25: Bm25Index) -> None:
    folder = tmp_path / "bm25"

    bm25.save(folder)
    loaded = Bm25Index.load(folder)

    assert loaded.size == bm25.size
    for question in ["Yongsan", "radar festival", "ministers talks Seoul", "unknownword"]:
        np.testing.assert_array_equal(loaded.scores(question), bm25.scores(question))
        assert loaded.search(question, 10) == bm25.search(question, 10)


def test_fuse_sums_reciprocal_ranks() -> None:
    dense = [(3, 0.91), (1, 0.50), (2, 0.10)]
    lexical = [(1, 7.5), (4, 3.2)]

    fused = fuse([dense, lexical], rrf_k=60)

    assert fused == [
        (1, 1 / 62 + 1 / 61),
        (3, 1 / 61),
        (4, 1 / 62),
        (2, 1 / 63),
    ]


def test_fuse_ignores_the_input_scores() -> None:
    assert fuse([[(5, 1000.0), (6, -1.0)]], rrf_k=1) == fuse([[(5, 0.0), (6, 0.0)]], rrf_k=1) == [(5, 1 / 2), (6, 1 / 3)]


def test_fuse_breaks_ties_by_row() -> None:
    fused = fuse([[(9, 0.9), (2, 0.8)], [(2, 5.0), (9, 4.0)], [(7, 1.0)]], rrf_k=1)

    # 9 and 2 both score 1/2 + 1/3; 7 scores 1/2.
    assert fused == [(2, 1 / 3 + 1 / 2), (9, 1 / 2 + 1 / 3), (7, 1 / 2)]
    assert fused[0][1] == fused[1][1]


def test_fuse_of_one_ranking_keeps_its_order() -> None:
    ranking = [(4, 0.9), (0, 0.8), (8, 0.7), (1, 0.6)]

    assert [row for row, _ in fuse([ranking], rrf_k=60)] == [4, 0, 8, 1]


def test_fuse_of_nothing_is_empty() -> None:
    assert fuse([], rrf_k=60) == []
    assert fuse([[], []], rrf_k=60) == []


def test_fuse_rrf_k_sets_how_much_rank_matters() -> None:
    # Row 1 is first in one ranking; row 2 is fourth in two rankings.
    rankings = [[(1, 0.0)], [(3, 0.0), (5, 0.0), (6, 0.0), (2, 0.0)], [(4, 0.0), (7, 0.0), (8, 0.0), (2, 0.0)]]

    small = dict(fuse(rankings, rrf_k=1))
    large = dict(fuse(rankings, rrf_k=1000))

    assert small[1] == 1 / 2 and small[2] == 1 / 5 + 1 / 5
    assert small[1] > small[2]
    assert large[1] == 1 / 1001 and large[2] == 1 / 1004 + 1 / 1004
    assert large[2] > large[1]


def test_bm25_passage_without_terms_keeps_its_row(tmp_path: Path) -> None:
    index = Bm25Index.build(["It is.", "...", "Yongsan base."])

    assert index.size == 3
    assert index.search("base", 5) == [(2, pytest.approx(index.scores("base")[2]))]
    index.save(tmp_path / "bm25")
    assert Bm25Index.load(tmp_path / "bm25").size == 3


# HNSW: approximate search, held to the exact (flat) index it replaces.

@pytest.fixture(scope="module")
def embeddings_like() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """2,000 passages and 100 questions at the real embedder's dimension (384)."""
    return unit_vectors(np.random.default_rng(3), 2000, 384), unit_vectors(np.random.default_rng(4), 100, 384)


@pytest.fixture(scope="module")
def hnsw(embeddings_like: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]) -> DenseIndex:
    return DenseIndex.build(embeddings_like[0], kind="hnsw")


def recall_at_10(approximate: DenseIndex, exact: DenseIndex, queries: npt.NDArray[np.float32]) -> float:
    overlaps = [
        len({r for r, _ in approximate.search(q, 10)} & {r for r, _ in exact.search(q, 10)}) / 10 for q in queries
    ]
    return float(np.mean(overlaps))


def test_hnsw_recall_at_10_against_flat(hnsw: DenseIndex, embeddings_like: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]) -> None:
    # Random unit vectors are the hard case for a graph index (no clusters to follow):
    # real embeddings do better than this floor.
    vectors, queries = embeddings_like
    flat = DenseIndex.build(vectors)

    assert (hnsw.kind, flat.kind) == ("hnsw", "flat")
    assert recall_at_10(hnsw, flat, queries) >= 0.95


def test_hnsw_scores_are_exact_cosines_best_first(hnsw: DenseIndex, embeddings_like: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]) -> None:
    vectors, queries = embeddings_like

    for query in queries[:10]:
        found = hnsw.search(query, 10)
        rows = [r for r, _ in found]
        scores = [s for _, s in found]
        assert len(set(rows)) == 10
        assert scores == sorted(scores, reverse=True)
        np.testing.assert_allclose(scores, vectors[rows] @ query, atol=1e-5)


def test_hnsw_finds_a_stored_vector_first(hnsw: DenseIndex, embeddings_like: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]) -> None:
    vectors, _ = embeddings_like

    for row in (0, 999, 1999):
        assert hnsw.search(vectors[row], 1)[0][0] == row


def test_hnsw_keeps_the_input_vectors(hnsw: DenseIndex, embeddings_like: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]) -> None:
    # Incremental updates rebuild from the stored vectors, so they must come back exactly.
    vectors, queries = embeddings_like

    assert (hnsw.size, hnsw.dimension) == (2000, 384)
    np.testing.assert_array_equal(hnsw.vectors(), vectors)
    rows = [1999, 3, 3, 0]
    np.testing.assert_allclose(hnsw.similarity(queries[0], rows), vectors[rows] @ queries[0], atol=1e-6)


def test_hnsw_save_load_round_trip(tmp_path: Path, hnsw: DenseIndex, embeddings_like: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]) -> None:
    vectors, queries = embeddings_like
    path = tmp_path / "dense.faiss"

    hnsw.save(path)
    loaded = DenseIndex.load(path)

    assert (loaded.kind, loaded.size, loaded.dimension) == ("hnsw", 2000, 384)
    np.testing.assert_array_equal(loaded.vectors(), vectors)
    for query in queries[:20]:
        assert loaded.search(query, 10) == hnsw.search(query, 10)


def test_hnsw_of_few_or_no_vectors(vectors: npt.NDArray[np.float32], queries: npt.NDArray[np.float32], tmp_path: Path) -> None:
    empty = DenseIndex.build(np.zeros((0, 48), dtype=np.float32), kind="hnsw")
    assert empty.size == 0 and empty.search(queries[0], 5) == []
    empty.save(tmp_path / "empty.faiss")
    assert DenseIndex.load(tmp_path / "empty.faiss").size == 0

    five = DenseIndex.build(vectors[:5], kind="hnsw")
    assert [row for row, _ in five.search(queries[0], 50)] == brute_force(vectors[:5], queries[0], 5)[0]


def test_unknown_dense_index_kind_is_refused(vectors: npt.NDArray[np.float32]) -> None:
    with pytest.raises(ValueError, match="flat, hnsw"):
        DenseIndex.build(vectors, kind="ivf")
