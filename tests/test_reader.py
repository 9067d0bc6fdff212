"""The extractive reader with the real shipped model."""

from __future__ import annotations

from rag import Config, Document
from rag.chunker import chunk
from rag.corpus import content_hash
from rag.reader import ExtractiveReader
from rag.types import Chunk


def _passage(text: str, doc_id: str = "doc.txt", offset: int = 0) -> Chunk:
    return Chunk(doc_id, 0, offset, offset + len(text), text)


def test_reads_the_answer_span_with_document_offsets(reader: ExtractiveReader) -> None:
    prefix = "Some earlier text that is not in this passage. "
    text = "The Cheonan warship was sunk in 2010 by a North Korean torpedo, killing 46 sailors."
    spans = reader.read("How many sailors were killed?", [_passage(text, offset=len(prefix))])
    best = spans[0]
    assert best.text == "46"
    assert (prefix + text)[best.start : best.end] == "46"
    assert spans == sorted(spans, key=lambda s: -s.probability)


def test_spans_are_valid_slices_and_bounded(reader: ExtractiveReader) -> None:
    config = Config()
    text = "Ahn Gyu-back met Gen Nakatani in Seoul on Monday at the Defense Ministry in Yongsan."
    for span in reader.read("Where did they meet?", [_passage(text)]):
        assert 0 <= span.start < span.end <= len(text)
        assert span.text == text[span.start : span.end]
        assert len(reader.tokenizer.encode(span.text, add_special_tokens=False).ids) <= config.max_answer_tokens
        assert 0.0 <= span.probability <= 1.0


def test_long_passage_is_read_in_windows(reader: ExtractiveReader) -> None:
    filler = " ".join(f"Sentence number {i} talks about nothing in particular." for i in range(120))
    text = filler + " The secret code word of the meeting was Pinecone."
    doc = Document("long.txt", text, content_hash(text))
    passage = Chunk("long.txt", 0, 0, len(text), text)  # one passage far longer than 256 tokens
    assert len(reader.tokenizer.encode(text).ids) > 1000
    best = reader.read("What was the secret code word of the meeting?", [passage])[0]
    assert best.text == "Pinecone" and doc.text[best.start : best.end] == "Pinecone"


def test_probabilities_compare_across_passages(reader: ExtractiveReader) -> None:
    relevant = _passage("Japan and South Korea normalized diplomatic relations in 1965.", "a.txt")
    unrelated = _passage("The weather in the mountains was cold and windy all week.", "b.txt")
    spans = reader.read("In what year did Japan and South Korea normalize relations?", [unrelated, relevant])
    assert spans[0].chunk.doc_id == "a.txt" and spans[0].text == "1965"
    best_unrelated = max(s.probability for s in spans if s.chunk.doc_id == "b.txt")
    assert spans[0].probability > 0.5 > best_unrelated


def test_batch_of_real_passages(reader: ExtractiveReader, seeds_documents) -> None:
    chunks = [c for d in seeds_documents.values() for c in chunk(d, 800, 240)]
    spans = reader.read("How many sailors were killed in the sinking of the Cheonan?", chunks)
    assert {s.chunk.doc_id for s in spans} == set(seeds_documents)  # every passage was read
    for s in spans[:50]:
        assert seeds_documents[s.chunk.doc_id].text[s.start : s.end] == s.text
    assert spans[0].text == "46"


def test_no_passages_no_spans(reader: ExtractiveReader) -> None:
    assert reader.read("Anything?", []) == []
