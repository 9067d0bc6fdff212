"""Gold-file reading and answer metrics (pure functions, literal inputs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.eval.errors import GoldFileError
from rag.eval.gold import GoldQuestion, load_gold, write_gold
from rag.eval.metrics import exact_match, f1, mean
from rag.eval.runner import score
from rag.types import Answer, Chunk, Citation


def test_exact_match_uses_squad_normalisation() -> None:
    assert exact_match("the Cheonan.", ["Cheonan"]) == 1.0
    assert exact_match("Cheonan warship", ["Cheonan", "Seoul"]) == 0.0
    assert exact_match("Gen Nakatani", ["Nakatani", "Gen Nakatani"]) == 1.0


def test_f1_is_the_best_token_overlap() -> None:
    assert f1("Gen Nakatani", ["Nakatani"]) == pytest.approx(2 / 3)
    assert f1("Seoul", ["Tokyo"]) == 0.0
    assert f1("the defense ministry in Seoul", ["Seoul", "defense ministry in Seoul"]) == 1.0
    assert f1("", ["Seoul"]) == 0.0


def test_mean_of_nothing_is_zero() -> None:
    assert mean([]) == 0.0 and mean([1.0, 0.0]) == 0.5


def test_load_gold_ignores_extra_keys_and_blank_lines(tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "1", "question": "Q?", "answers": ["A"], "doc_ids": ["d.txt"], "split": "dev"}\n\n'
                    '{"id": "2", "question": "R?", "answers": [], "doc_ids": []}\n', encoding="utf-8")
    questions = load_gold(gold)
    assert questions == [GoldQuestion("1", "Q?", ("A",), ("d.txt",), "dev"), GoldQuestion("2", "R?", (), ())]
    assert [q.answerable for q in questions] == [True, False]


def test_missing_gold_file(tmp_path: Path) -> None:
    with pytest.raises(GoldFileError, match="cannot read"):
        load_gold(tmp_path / "missing.jsonl")


def _answer(text: str | None, doc_id: str = "d.txt") -> Answer:
    if text is None:
        return Answer("Q?", None, (), 0.1)
    passage = Chunk(doc_id, 0, 0, len(text), text)
    return Answer("Q?", text, (Citation(doc_id, 0, 0, len(text), text, passage, 0.9),), 0.9)


def test_score_citation_needs_the_right_document() -> None:
    gold = GoldQuestion("1", "Q?", ("Seoul",), ("d.txt",))
    assert score(gold, _answer("Seoul")).citation_correct
    assert not score(gold, _answer("Seoul", doc_id="other.txt")).citation_correct
    assert score(gold, _answer("Seoul")).em == 1.0
    abstained = score(gold, _answer(None))
    assert abstained.em == 0.0 and not abstained.citation_correct


def test_write_gold_gives_what_load_gold_reads_in_the_split_asked(tmp_path: Path) -> None:
    questions = [GoldQuestion("q1", "Who?", ("Ahn",), ("a.txt",), "dev", "near_miss"),
                 GoldQuestion("q2", "Where?", (), ("b.txt", "c.txt"))]
    gold = tmp_path / "part" / "gold.jsonl"
    write_gold(gold, questions, "test")
    assert load_gold(gold) == [GoldQuestion("q1", "Who?", ("Ahn",), ("a.txt",), "test", "near_miss"),
                               GoldQuestion("q2", "Where?", (), ("b.txt", "c.txt"), "test", None)]
