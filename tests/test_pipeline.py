"""The whole pipeline on the real seeds with the real embedder, FAISS, BM25 and reader."""

from __future__ import annotations

import dataclasses

import pytest

from rag import Pipeline, QuestionError, StaleIndexError
from rag.answer import normalize_answer
from tests.helpers import SEEDS


def _correct(answer_text: str | None, gold: list[str]) -> bool:
    return answer_text is not None and normalize_answer(answer_text) in {normalize_answer(g) for g in gold}


def test_answers_questions_over_seeds_with_citations(seeds_pipeline: Pipeline, core_questions, seeds_documents) -> None:
    answerable = [q for q in core_questions if q["answers"]]
    correct = []
    for q in answerable:
        answer = seeds_pipeline.ask(q["question"])
        for c in answer.citations:
            assert seeds_documents[c.doc_id].text[c.start : c.end] == c.quote
            assert c.passage.start <= c.start < c.end <= c.passage.end
        if _correct(answer.text, q["answers"]):
            assert answer.text == answer.citations[0].quote
            assert answer.citations[0].doc_id in q["doc_ids"]
            correct.append(q["id"])
    # 12 of the 14 were right when this was written (a10 and a12 are the misses; see the issue note).
    assert len(correct) >= 11, f"only {correct} answered correctly"


@pytest.mark.parametrize("question", [
    "What is the capital of France?",
    "Who won the 2022 FIFA World Cup?",
    "How do I bake sourdough bread?",
    "What is the boiling point of water at sea level?",
])
def test_abstains_on_questions_outside_the_seeds(seeds_pipeline: Pipeline, question: str) -> None:
    answer = seeds_pipeline.ask(question)
    assert answer.abstained and answer.text is None and answer.citations == ()
    assert answer.confidence < seeds_pipeline.config.min_confidence
    assert answer.passages, "an abstention still shows the closest passages"
    assert "don't say" in answer.message


def test_same_answer_in_several_documents_is_one_answer_with_all_citations(seeds_pipeline: Pipeline) -> None:
    answer = seeds_pipeline.ask("In what year did South Korea and Japan normalize diplomatic relations?")
    assert answer.text == "1965"
    cited_docs = {c.doc_id for c in answer.citations}
    assert {"001_02e458cc2d36998a.txt", "003_d4db5aaa407c9b75.txt"} <= cited_docs
    places = [(c.doc_id, c.start, c.end) for c in answer.citations]
    assert len(places) == len(set(places)), "no duplicate citations"
    assert answer.to_json()["supporting_passages"] >= 2


def test_confidence_is_a_probability_that_separates_answerable_from_outside_questions(
    seeds_pipeline: Pipeline, core_questions
) -> None:
    answerable = [q for q in core_questions if q["kind"] == "answerable"][:6]
    outside = [q for q in core_questions if q["kind"] == "outside"][:4]
    confidence = {q["id"]: seeds_pipeline.ask(q["question"], min_confidence=0.0).confidence for q in answerable + outside}
    assert all(0.0 <= c <= 1.0 for c in confidence.values())
    # Asked about the corpus, rag is surer than asked about France or football: on average, and
    # the surest answer to an outside question is below the typical answerable one.
    mean_in = sum(confidence[q["id"]] for q in answerable) / len(answerable)
    mean_out = sum(confidence[q["id"]] for q in outside) / len(outside)
    assert mean_in > mean_out + 0.2
    assert max(confidence[q["id"]] for q in outside) < sorted(confidence[q["id"]] for q in answerable)[len(answerable) // 2]


def test_search_modes_return_scored_top_k(seeds_pipeline: Pipeline) -> None:
    for mode in ("hybrid", "dense", "bm25"):
        hits = seeds_pipeline.search("Cheonan warship sinking", k=3, retrieval=mode)
        assert 1 <= len(hits) <= 3
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert hits[0].chunk.doc_id == "000_d8589817e4af2ab0.txt"
    # One passage says "Yongsan"; BM25 ranks it first and dense search tops the list up to k.
    bm25_hits = seeds_pipeline.search("Yongsan", k=5, retrieval="bm25")
    assert len(bm25_hits) == 5 and "Yongsan" in bm25_hits[0].chunk.text and bm25_hits[0].bm25_score > 0
    assert all(h.score == 0.0 and h.bm25_score == 0.0 for h in bm25_hits[1:])
    assert len({(h.chunk.doc_id, h.chunk.chunk_index) for h in bm25_hits}) == 5


def test_top_k_limits_the_passages_read(seeds_pipeline: Pipeline) -> None:
    answer = seeds_pipeline.ask("Where did Ahn Gyu-back and Gen Nakatani meet?", k=2)
    assert len(answer.passages) == 2


def test_same_question_same_answer(seeds_pipeline: Pipeline) -> None:
    first = seeds_pipeline.ask("Which warship was sunk by a North Korean torpedo in 2010?").to_json()
    second = seeds_pipeline.ask("Which warship was sunk by a North Korean torpedo in 2010?").to_json()
    first.pop("timings_s"), second.pop("timings_s")
    assert first == second


@pytest.mark.parametrize("question", ["", "   \n", 42])
def test_empty_question_is_a_clear_error(seeds_pipeline: Pipeline, question) -> None:
    with pytest.raises(QuestionError):
        seeds_pipeline.ask(question)


def test_incremental_update_makes_new_documents_citable(seeds_copy, tmp_path, embedder, reader) -> None:
    config = dataclasses.replace(Pipeline().config, corpus_dir=seeds_copy, index_dir=tmp_path / "index")
    pipeline = Pipeline(config, embedder=embedder, reader=reader)
    assert len(pipeline.index().added) == 5
    (seeds_copy / "notes").mkdir()
    (seeds_copy / "notes" / "zoo.md").write_text(
        "# Zoo news\n\nThe Seoul Grand Park zoo welcomed a baby giraffe named Haneul in March 2026.\n", encoding="utf-8"
    )
    (seeds_copy / "000_d8589817e4af2ab0.txt").unlink()
    report = Pipeline(config, embedder=embedder, reader=reader).index()
    assert report.added == ("notes/zoo.md",) and report.deleted == ("000_d8589817e4af2ab0.txt",)
    assert report.passages_embedded == 1 and report.unchanged == 4

    fresh = Pipeline(config, embedder=embedder, reader=reader)  # auto-update: loads the new index
    answer = fresh.ask("What was the name of the baby giraffe at the Seoul Grand Park zoo?")
    assert answer.text == "Haneul" and answer.citations[0].doc_id == "notes/zoo.md"
    assert all(h.chunk.doc_id != "000_d8589817e4af2ab0.txt" for h in fresh.search("Cheonan sailors torpedo", k=10))


def test_without_auto_update_a_changed_corpus_is_refused(seeds_copy, tmp_path, embedder, reader) -> None:
    config = dataclasses.replace(Pipeline().config, corpus_dir=seeds_copy, index_dir=tmp_path / "index", auto_update=False)
    Pipeline(config, embedder=embedder, reader=reader).index()
    (seeds_copy / "extra.txt").write_text("A new document.", encoding="utf-8")
    with pytest.raises(StaleIndexError, match="rag index"):
        Pipeline(config, embedder=embedder, reader=reader).search("anything")


def test_from_folder_checks_settings(tmp_path) -> None:
    from rag import ConfigError

    qa = Pipeline.from_folder(tmp_path, top_k=3)  # cheap: nothing is loaded yet
    assert qa.config.top_k == 3 and qa.config.corpus_dir == tmp_path
    with pytest.raises(ConfigError, match="top_kk"):
        Pipeline.from_folder(tmp_path, top_kk=3)
    with pytest.raises(ConfigError, match="top_k"):
        Pipeline.from_folder(tmp_path, top_k=0)


def test_per_question_settings_override_the_config(seeds_pipeline: Pipeline) -> None:
    question = "Where did Ahn Gyu-back and Gen Nakatani meet?"
    assert seeds_pipeline.ask(question).text == "Seoul"
    assert seeds_pipeline.ask(question, min_confidence=1.0).abstained
    dense = seeds_pipeline.ask(question, 2, retrieval="dense")
    assert [h.chunk for h in dense.passages] == [h.chunk for h in seeds_pipeline.search(question, 2, "dense")]
    from rag import ConfigError

    for bad in ({"min_confidence": 1.5}, {"min_confidence": -0.1}, {"retrieval": "fuzzy"}):
        with pytest.raises(ConfigError):
            seeds_pipeline.ask(question, **bad)
    with pytest.raises(ConfigError, match="top-k"):
        seeds_pipeline.ask(question, 0)


def test_added_documents_are_citable_and_kept_beside_the_index(seeds_copy, tmp_path, embedder, reader) -> None:
    from rag import CorpusError

    config = dataclasses.replace(Pipeline().config, corpus_dir=seeds_copy, index_dir=tmp_path / "index")
    assert config.uploads_folder == tmp_path / "index-uploads"
    pipeline = Pipeline(config, embedder=embedder, reader=reader)
    pipeline.index()
    report = pipeline.add_document("zoo.md", b"The Seoul Grand Park zoo welcomed a baby giraffe named Haneul in March 2026.\n")
    assert report.added == ("uploads/zoo.md",) and report.passages_embedded == 1
    answer = pipeline.ask("What was the name of the baby giraffe at the Seoul Grand Park zoo?")
    assert answer.text == "Haneul" and answer.citations[0].doc_id == "uploads/zoo.md"
    assert pipeline.document("uploads/zoo.md").text.startswith("The Seoul Grand Park zoo")
    assert pipeline.document("000_d8589817e4af2ab0.txt").text.startswith("South Korean Defense Minister")
    assert sorted(p.name for p in seeds_copy.iterdir()) == sorted(p.name for p in SEEDS.iterdir())  # corpus untouched
    # A fresh pipeline (another process, the CLI) sees the upload as part of the corpus: nothing is dropped.
    again = Pipeline(config, embedder=embedder, reader=reader).index()
    assert not again.wrote_index and not again.deleted
    # A refused file changes nothing.
    with pytest.raises(CorpusError):
        pipeline.add_document("../outside.md", b"text")
    with pytest.raises(CorpusError):
        pipeline.add_document("binary.txt", b"\x00\x01")
    assert sorted(p.name for p in config.uploads_folder.iterdir()) == ["zoo.md"]
    with pytest.raises(CorpusError, match="no document"):
        pipeline.document("uploads/../../secret.txt")


def test_uploads_are_listed_replaced_only_when_asked_and_removed(seeds_copy, tmp_path, embedder, reader) -> None:
    from rag import CorpusError
    from rag.uploads import UploadExistsError

    config = dataclasses.replace(Pipeline().config, corpus_dir=seeds_copy, index_dir=tmp_path / "index")
    pipeline = Pipeline(config, embedder=embedder, reader=reader)
    pipeline.index()
    assert pipeline.uploads() == []
    pipeline.add_document("zoo.md", b"The Seoul Grand Park zoo welcomed a baby giraffe named Haneul in March 2026.\n")
    assert pipeline.uploads() == ["uploads/zoo.md"]
    with pytest.raises(UploadExistsError):
        pipeline.add_document("zoo.md", b"A second version.\n", replace=False)
    assert pipeline.document("uploads/zoo.md").text.startswith("The Seoul Grand Park zoo")  # kept as it was
    # Corpus documents are never deleted, and an id outside uploads/ is refused before anything is touched.
    for doc_id in ("000_d8589817e4af2ab0.txt", "uploads/../000_d8589817e4af2ab0.txt", "uploads/missing.md"):
        with pytest.raises(CorpusError):
            pipeline.remove_document(doc_id)
    assert sorted(p.name for p in seeds_copy.iterdir()) == sorted(p.name for p in SEEDS.iterdir())
    report = pipeline.remove_document("uploads/zoo.md")
    assert report.deleted == ("uploads/zoo.md",)
    assert pipeline.uploads() == [] and not (config.uploads_folder / "zoo.md").exists()
    answer = pipeline.ask("What was the name of the baby giraffe at the Seoul Grand Park zoo?")
    assert all(c.doc_id != "uploads/zoo.md" for c in answer.citations) and answer.text != "Haneul"


def test_search_takes_the_retrieval_mode_by_the_name_ask_uses_and_still_its_old_name(seeds_pipeline) -> None:
    expected = seeds_pipeline.search("Yongsan", k=3, retrieval="bm25")
    with pytest.warns(DeprecationWarning, match="retrieval="):
        old = seeds_pipeline.search("Yongsan", k=3, mode="bm25")
    assert [h.chunk for h in old] == [h.chunk for h in expected]
    assert expected[0].bm25_score > 0 and "Yongsan" in expected[0].chunk.text
