"""chunk(): passages that slice their document exactly, in order, within size, covering it all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rag.chunker import chunk
from rag.config import Config
from rag.corpus import content_hash, load_corpus
from rag.types import Chunk, Document

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

# A chunk ends after one of these, or at a blank line, or at the end of the document.
SENTENCE_END_CHARS = ".!?\"'”’)"

SIZES = [(50, 0), (50, 20), (80, 30), (120, 0), (200, 60), (800, 240)]

LONG_RUN_ON = " ".join(f"word{i}" for i in range(120))  # ~900 chars, no punctuation at all
LONG_WORD = "x" * 950  # one token longer than every size above

AWKWARD_DOCUMENTS = {
    "one-char": "a",
    "one-sentence": "Seoul and Tokyo agreed.",
    "empty-lines": "\n\n\nFirst paragraph here.\n\n\n\nSecond paragraph here.\n\n\n",
    "only-blank-lines-between": "A.\n\nB.\n\nC.\n\nD.\n\nE.",
    "long-run-on": LONG_RUN_ON,
    "long-run-on-in-text": f"Short start. {LONG_RUN_ON}. Short end.",
    "long-word": LONG_WORD,
    "long-word-in-text": f"Before it. {LONG_WORD} after it. And more text follows here.",
    "unicode": "서울에서 두 장관이 만났다. 국방 협력을 논의했다! 😀 이모지도 있다? 🇰🇷🤝🇯🇵 끝.",
    "crlf": "Line one is here.\r\nLine two is here.\r\n\r\nNew paragraph.\r\n",
    "abbreviations": "U.S. officials met in Seoul. Dr. Kim said the U.N. agreed. Mr. Ahn, e.g. the minister, left at 5 p.m. today.",
    "leading-trailing-whitespace": "   \n\t Starts with whitespace. Ends with whitespace too.  \n\t  ",
    "tabs-and-nbsp": "Tab\tseparated.\tWords\u00a0with\u00a0no-break spaces. Done.",
    "numbers": "The budget was 1.5 trillion won. In 2025 it grew. 3. Third item.",
    "questions": "Who met? The ministers met! Where? In Seoul. When? Monday.",
    "no-space-after-period": "End.Start of next without a space.Another.",
    "only-punctuation": "... !!! ??? ... ,,, ;;;",
    "repeated": "Same sentence again. " * 60,
}


def make_document(text: str, doc_id: str = "doc.txt") -> Document:
    return Document(doc_id=doc_id, text=text, content_hash=content_hash(text))


def check_slices_and_sizes(doc: Document, chunks: list[Chunk], size: int) -> None:
    """Offsets, indexes, order and size: what every caller of chunk() relies on."""
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.doc_id == doc.doc_id
        assert 0 <= c.start < c.end <= len(doc.text)
        assert doc.text[c.start : c.end] == c.text
        assert len(c.text) <= size, f"chunk {c.chunk_index} has {len(c.text)} chars > {size}"
        assert c.text == c.text.strip(), f"chunk {c.chunk_index} has surrounding whitespace: {c.text!r}"
    starts = [c.start for c in chunks]
    assert starts == sorted(set(starts)), "chunk starts must strictly increase"


def check_each_chunk_advances(chunks: list[Chunk]) -> None:
    for before, after in zip(chunks, chunks[1:]):
        assert after.end > before.end, (
            f"chunk {after.chunk_index} [{after.start}:{after.end}] lies inside chunk "
            f"{before.chunk_index} [{before.start}:{before.end}]: a duplicate passage"
        )


def check_coverage(doc: Document, chunks: list[Chunk]) -> None:
    covered = [False] * len(doc.text)
    for c in chunks:
        covered[c.start : c.end] = [True] * (c.end - c.start)
    lost = [(i, ch) for i, ch in enumerate(doc.text) if not ch.isspace() and not covered[i]]
    assert not lost, f"characters in no chunk: {lost[:10]}"


def check_all(doc: Document, chunks: list[Chunk], size: int) -> None:
    check_slices_and_sizes(doc, chunks, size)
    check_each_chunk_advances(chunks)
    check_coverage(doc, chunks)


@pytest.mark.parametrize(("size", "overlap"), SIZES)
@pytest.mark.parametrize("name", sorted(AWKWARD_DOCUMENTS))
def test_awkward_documents_round_trip(name: str, size: int, overlap: int) -> None:
    doc = make_document(AWKWARD_DOCUMENTS[name])

    chunks = chunk(doc, size, overlap)

    assert chunks, "a document with text must give at least one chunk"
    check_all(doc, chunks, size)


@pytest.mark.parametrize("text", ["", " ", "\n\n\t  \r\n"])
def test_empty_or_whitespace_document_gives_no_chunks(text: str) -> None:
    assert chunk(make_document(text), 100, 20) == []


def test_short_document_is_one_chunk_without_surrounding_whitespace() -> None:
    doc = make_document("  \n Two short sentences. Both fit.\n\n")

    [only] = chunk(doc, 100, 20)

    assert (only.start, only.end, only.text) == (4, 34, "Two short sentences. Both fit.")


def test_abbreviation_does_not_end_a_sentence() -> None:
    sentence = "U.S. officials met the ministers in Seoul."
    doc = make_document(f"{sentence} Then everyone went home for the night.")

    first = chunk(doc, len(sentence) + 5, 0)[0]

    assert first.text == sentence


def test_long_sentence_is_cut_at_whitespace() -> None:
    doc = make_document(LONG_RUN_ON)

    chunks = chunk(doc, 100, 20)

    assert len(chunks) > 1
    for c in chunks:
        assert re.fullmatch(r"word\d+( word\d+)*", c.text), f"a word was cut: {c.text!r}"


def test_word_longer_than_size_is_cut_anywhere() -> None:
    doc = make_document(LONG_WORD)

    chunks = chunk(doc, 100, 20)

    assert [len(c.text) for c in chunks] == [100] * 9 + [50]
    assert "".join(c.text for c in chunks) == LONG_WORD


def test_overlap_repeats_whole_sentences() -> None:
    sentences = [f"Sentence number {i} is here." for i in range(10)]  # 26-27 chars each
    doc = make_document(" ".join(sentences))

    chunks = chunk(doc, 100, 60)

    assert len(chunks) > 1
    for before, after in zip(chunks, chunks[1:]):
        shared = before.end - after.start
        assert 0 < shared <= 60
        assert doc.text[after.start : before.end] in before.text
        assert after.text.startswith("Sentence number")
    check_all(doc, chunks, 100)


def test_zero_overlap_gives_disjoint_chunks() -> None:
    doc = make_document(" ".join(f"Sentence number {i} is here." for i in range(20)))

    chunks = chunk(doc, 100, 0)

    for before, after in zip(chunks, chunks[1:]):
        assert after.start > before.end


def test_closing_quote_after_sentence_end_is_kept() -> None:
    # Bug in rag/chunker.py: _SENTENCE_END's match begins right after the "." and swallows the
    # closing quote or bracket, so a chunk that ends at that boundary loses it.
    doc = make_document('He said "We agree." Then they left the room together.')

    first = chunk(doc, 30, 0)[0]

    assert first.text == 'He said "We agree."', "the closing quote after the period was dropped"


def test_short_sentences_before_a_long_one_give_no_duplicate_passage() -> None:
    # Bug in rag/chunker.py: the overlap step backs up over sentences that fit in the overlap even
    # when the long sentence after them then does not fit, so the next chunk ends where this one
    # ends: a copy of its tail, indexed and retrieved twice.
    short = "This is a short sentence of about fifty characters."
    long_sentence = "This one is much longer, " + "and it goes on and on, " * 25 + "until it ends."
    doc = make_document(" ".join([short] * 8 + [long_sentence]))
    assert 600 < len(long_sentence) <= 800

    chunks = chunk(doc, 800, 240)

    check_slices_and_sizes(doc, chunks, 800)
    check_each_chunk_advances(chunks)


# Sentence-like text: words, abbreviations, end marks, closing quotes and brackets, odd whitespace.
_WORDS = st.sampled_from(
    ["a", "word", "Word", "Seoul", "U.S.", "Dr.", "5", "2025", "1.5", "e.g.", "서울", "😀", "🇰🇷", "é", "x" * 70, "(aside)"]
)
_SENTENCES = st.builds(
    lambda opening, words, end, closing: opening + " ".join(words) + end + closing,
    st.sampled_from(["", "", '"', "“", "(", "["]),
    st.lists(_WORDS, min_size=1, max_size=14),
    st.sampled_from([".", ".", "!", "?", "...", ""]),
    st.sampled_from(["", "", '"', "”", "’", ")", "]", ".”"]),
)
_GAPS = st.sampled_from([" ", " ", " ", "  ", "\n", "\n\n", "\r\n", "\r\n\r\n", "\t", " \n \n ", "\u00a0"])
_SENTENCE_TEXTS = st.builds(
    lambda lead, pairs, trail: lead + "".join(s + g for s, g in pairs) + trail,
    _GAPS | st.just(""),
    st.lists(st.tuples(_SENTENCES, _GAPS), max_size=30),
    _GAPS | st.just(""),
)
# Arbitrary text, for what the sentence grammar does not think of.
_PIECES = st.sampled_from(
    [
        "a", "Word", "U.S.", ".", "!", "?", "...", ",", '"', "”", "’", "“", "(", ")", "]",
        " ", " ", "  ", "\n", "\n\n", "\r\n", "\t", "\u2028", "서울", "😀", "x" * 70,
    ]
)
_RAW_TEXTS = st.lists(st.one_of(_PIECES, st.text(max_size=5)), max_size=60).map("".join)
_TEXTS = _SENTENCE_TEXTS | _RAW_TEXTS
_SIZE_OVERLAP = st.sampled_from(SIZES)
_PROPERTY_SETTINGS = settings(
    max_examples=300, derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@_PROPERTY_SETTINGS
@given(text=_TEXTS, size_overlap=_SIZE_OVERLAP)
def test_property_chunks_slice_the_document_within_size(text: str, size_overlap: tuple[int, int]) -> None:
    size, overlap = size_overlap
    doc = make_document(text)

    chunks = chunk(doc, size, overlap)

    check_slices_and_sizes(doc, chunks, size)
    assert bool(chunks) == bool(text.strip())


@_PROPERTY_SETTINGS
@given(text=_TEXTS, size_overlap=_SIZE_OVERLAP)
@example(text='Yes, "we agree." Then it ended with a long sentence.', size_overlap=(50, 0))
def test_property_every_non_whitespace_character_is_in_a_chunk(text: str, size_overlap: tuple[int, int]) -> None:
    size, overlap = size_overlap
    doc = make_document(text)

    check_coverage(doc, chunk(doc, size, overlap))


@_PROPERTY_SETTINGS
@given(text=_TEXTS, size_overlap=_SIZE_OVERLAP)
@example(text="a. Word a a a a.\n\na a a a a a a a word word word word. ", size_overlap=(50, 20))
def test_property_each_chunk_ends_after_the_previous_one(text: str, size_overlap: tuple[int, int]) -> None:
    size, overlap = size_overlap

    check_each_chunk_advances(chunk(make_document(text), size, overlap))


@pytest.fixture(scope="module")
def seed_chunks() -> list[tuple[Document, list[Chunk]]]:
    config = Config()
    return [(doc, chunk(doc, config.chunk_chars, config.chunk_overlap)) for doc in load_corpus(SEEDS)]


def test_seeds_round_trip_with_default_settings(seed_chunks: list[tuple[Document, list[Chunk]]]) -> None:
    size = Config().chunk_chars
    assert len(seed_chunks) == 5
    for doc, chunks in seed_chunks:
        assert len(chunks) > 1, f"{doc.doc_id} is longer than one chunk"
        check_all(doc, chunks, size)


def test_seed_neighbours_overlap_within_the_default_overlap(seed_chunks: list[tuple[Document, list[Chunk]]]) -> None:
    overlap = Config().chunk_overlap
    overlapping = 0
    for _doc, chunks in seed_chunks:
        for before, after in zip(chunks, chunks[1:]):
            shared = before.end - after.start
            assert shared <= overlap
            overlapping += shared > 0
    assert overlapping >= 5, "the default overlap should make many seed neighbours share sentences"
    assert sum(any(b.end > a.start for b, a in zip(c, c[1:])) for _d, c in seed_chunks) >= 3


def test_seed_chunks_start_and_end_on_sentence_boundaries(seed_chunks: list[tuple[Document, list[Chunk]]]) -> None:
    for doc, chunks in seed_chunks:
        for c in chunks:
            at_doc_end = doc.text[c.end :].strip() == ""
            at_sentence_end = doc.text[c.end - 1] in SENTENCE_END_CHARS
            # A blank line also ends a sentence (headlines, photo captions).
            at_paragraph_end = re.match(r"[ \t\r]*\n\s*\n", doc.text[c.end :]) is not None
            assert at_doc_end or at_sentence_end or at_paragraph_end, (
                f"{doc.doc_id} chunk {c.chunk_index} ends mid-sentence: ...{doc.text[c.end - 30 : c.end + 10]!r}"
            )
            at_doc_start = doc.text[: c.start].strip() == ""
            after_sentence_end = doc.text[: c.start].rstrip()[-1:] in SENTENCE_END_CHARS
            after_paragraph = re.search(r"\n\s*\n\s*$", doc.text[: c.start]) is not None
            assert at_doc_start or after_sentence_end or after_paragraph, (
                f"{doc.doc_id} chunk {c.chunk_index} starts mid-sentence: {doc.text[c.start - 30 : c.start + 10]!r}..."
            )
