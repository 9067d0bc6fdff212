"""The eval suite's metrics: pure functions on literal inputs, each able to fail."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag.eval.metrics import (
    Candidate,
    abstention_precision,
    abstention_recall,
    best_threshold,
    expected_calibration_error,
    overall_score,
    passage_has_answer,
    percentile,
    recall_at_k,
    reciprocal_rank,
    reliability_table,
    threshold_sweep,
)


def test_abstention_precision_and_recall() -> None:
    abstained = [True, False, True, False, True]
    answerable = [False, False, True, True, False]
    assert abstention_recall(abstained, answerable) == pytest.approx(2 / 3)  # 2 of 3 unanswerable declined
    assert abstention_precision(abstained, answerable) == pytest.approx(2 / 3)  # 2 of 3 abstentions right
    assert abstention_precision([False, False], [True, False]) == 0.0  # no abstention at all


def test_overall_counts_unanswerable_only_when_abstained() -> None:
    # answerable right, answerable abstained, unanswerable abstained, unanswerable answered
    assert overall_score([1.0, 0.0, 0.0, 0.0], [False, True, True, False], [True, True, False, False]) == 0.5


def test_a_retrieval_hit_needs_the_gold_document_and_the_answer() -> None:
    passage = "The Cheonan warship was sunk in 2010, killing 46 sailors."
    assert passage_has_answer(passage, "a.txt", ["a.txt"], ["46"])
    assert not passage_has_answer(passage, "b.txt", ["a.txt"], ["46"])  # right text, wrong document
    assert not passage_has_answer(passage, "a.txt", ["a.txt"], ["4"])  # whole tokens, not substrings
    assert passage_has_answer(passage, "a.txt", ["a.txt"], ["the Cheonan warship"])  # normalised
    assert not passage_has_answer(passage, "a.txt", ["a.txt"], [])


def test_recall_at_k_and_reciprocal_rank() -> None:
    hits = [False, False, True, False, True]
    assert [recall_at_k(hits, k) for k in (1, 2, 3, 10)] == [0.0, 0.0, 1.0, 1.0]
    assert reciprocal_rank(hits) == pytest.approx(1 / 3)
    assert reciprocal_rank([False, False]) == 0.0 and recall_at_k([], 5) == 0.0


def test_reliability_table_bins_confidence_against_accuracy() -> None:
    table = reliability_table([0.05, 0.15, 0.95, 1.0, 0.92], [False, True, True, True, False], bins=10)
    assert len(table) == 10 and sum(b.count for b in table) == 5
    assert (table[0].count, table[0].accuracy) == (1, 0.0)
    assert (table[9].count, table[9].accuracy) == (3, pytest.approx(2 / 3))  # 1.0 lands in the last bin
    assert table[9].mean_confidence == pytest.approx((0.95 + 1.0 + 0.92) / 3)
    perfect = reliability_table([0.95, 0.95], [True, True], bins=10)
    assert expected_calibration_error(perfect) == pytest.approx(0.05)
    assert expected_calibration_error(reliability_table([], [], 10)) == 0.0


def test_percentile_interpolates() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0], 95) == pytest.approx(1.95)
    assert percentile([], 50) == 0.0 and percentile([7.0], 95) == 7.0


@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=30), st.floats(0, 100))
def test_percentile_lies_within_the_values(values: list[float], q: float) -> None:
    assert min(values) <= percentile(values, q) <= max(values)


def test_threshold_sweep_trades_coverage_for_accuracy() -> None:
    candidates = [
        Candidate(0.9, 1.0, True),  # confident and right
        Candidate(0.6, 0.0, True),  # fairly confident, wrong
        Candidate(0.3, 0.0, False),  # unanswerable, low confidence: should be declined
        Candidate(0.0, 0.0, True, has_answer=False),  # no candidate at all: abstains at any threshold
    ]
    low, middle, high = threshold_sweep(candidates, [0.0, 0.5, 0.95])
    assert (low.coverage, low.answered_accuracy, low.overall) == (0.75, pytest.approx(1 / 3), 0.25)
    assert (middle.coverage, middle.answered_accuracy, middle.overall) == (0.5, 0.5, 0.5)
    assert (high.coverage, high.overall) == (0.0, 0.25)
    assert best_threshold([low, middle, high]).threshold == 0.5


def test_best_threshold_takes_the_middle_of_the_best_plateau() -> None:
    grid = [round(i * 0.05, 2) for i in range(21)]
    points = threshold_sweep([Candidate(0.35, 1.0, True), Candidate(0.1, 0.0, False)], grid)
    # Every threshold in (0.1, 0.35] keeps the right answer and declines the unanswerable question:
    # 0.15, 0.20, 0.25, 0.30, 0.35 on this grid.
    assert best_threshold(points).threshold == 0.25
