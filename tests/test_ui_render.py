"""What the web chat shows, built from real answers: escaping, answer messages with source cards, highlighted evidence."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from rag import Pipeline
from rag.ui import render
from rag.ui.sources import answer_sources

# CommonMark with raw HTML allowed (as Gradio's chat allows some), plus GFM strikethrough and tables.
_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["strikethrough", "table"])


def _shown_text(markdown: str) -> str:
    """The text a reader sees: rendered HTML with its tags dropped and entities decoded."""
    rendered = _MARKDOWN.render(markdown)
    assert set(re.findall(r"<(/?\w+)", rendered)) <= {"p", "/p", "br"}, rendered
    return html.unescape(re.sub(r"<[^>]+>", "", rendered)).replace("\xa0", " ").strip()


NASTY = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "**not bold** _not italic_ `not code` [not a link](http://example.com)",
    "# not a heading",
    "    not a code block",
    "- not a list\n1. not a list either",
    "> not a quote",
    "a | b\n--|--\n1 | 2",
    "$$x^2$$ and \\(y\\) ~~struck~~",
    "&amp; &lt;b&gt; \\*",
    "<!-- comment --> <b onclick=x>b</b>",
]


@pytest.mark.parametrize("text", NASTY)
def test_escaped_text_shows_exactly_as_written(text: str) -> None:
    shown = _shown_text(render.escape_markdown(text))
    assert " ".join(shown.split()) == " ".join(text.split())


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=80))
def test_any_text_shows_as_written(text: str) -> None:
    shown = _shown_text(render.escape_markdown(text))
    assert " ".join(shown.split()) == " ".join(text.split())


def test_answer_reads_as_its_sentence_with_numbered_source_cards(seeds_pipeline: Pipeline) -> None:
    answer = seeds_pipeline.ask("Where did Ahn Gyu-back and Gen Nakatani meet?")
    sources = answer_sources(answer, seeds_pipeline.document_info)
    [message] = render.answer_messages(answer, 0.5, 4, sources)
    content = message["content"]
    assert message["role"] == "assistant" and "metadata" not in message
    assert content.startswith("**Seoul**")
    assert "met in **Seoul** on Monday" in content.replace("\\", "")
    assert f"Confidence {answer.confidence:.2f} · {len(sources)} sources" in content
    # Every source has a marker in the statement (linking to this message's source) and one card.
    for source in sources:
        assert content.count(f"(#source-4-{source.number})") == 2  # the marker and the card's number
        assert f"> **{render.marker(4, source.number)}** {render.escape_markdown(source.name)}" in content
    rendered = MarkdownIt("commonmark").render(content)
    assert rendered.count("<blockquote>") == len(sources)
    assert '<a href="#source-4-1">[1]</a>' in rendered
    label = render.source_labels(sources)[0]
    assert label.startswith("[1] South Korean Defense Minister Ahn Gyu-back and Japanese Minister")


def test_abstention_says_so_and_lists_the_closest_passages(seeds_pipeline: Pipeline) -> None:
    answer = seeds_pipeline.ask("Who painted the Mona Lisa?")
    assert answer.abstained
    sources = answer_sources(answer, seeds_pipeline.document_info)
    [message] = render.answer_messages(answer, 0.5, 1, sources)
    assert "The documents don't say." in message["content"]
    assert "below the threshold 0.50" in message["content"]
    assert "Closest passages: " + " ".join(render.marker(1, n) for n in range(1, len(sources) + 1)) in message["content"]
    assert len(sources) == min(3, len(answer.passages)) and {s.kind for s in sources} == {"closest"}
    assert all(label.endswith("— closest passage") for label in render.source_labels(sources))
    # The evidence panel shows a closest passage whole, with nothing marked as the answer.
    assert render.highlighted_passage(sources[0]) == [(answer.passages[0].chunk.text, None)]


def test_highlights_cover_exactly_the_cited_span(seeds_pipeline: Pipeline, seeds_documents) -> None:
    answer = seeds_pipeline.ask("In what year did South Korea and Japan normalize diplomatic relations?")
    for source in answer_sources(answer):
        pieces = render.highlighted_passage(source)
        assert "".join(text for text, _ in pieces) == source.passage.text
        document = seeds_documents[source.doc_id]
        assert [text for text, label in pieces if label] == [document.text[source.start:source.end]]
        whole = render.highlighted_document(document, source)
        assert "".join(text for text, _ in whole) == document.text
        before = "".join(text for text, label in whole[: [label for _, label in whole].index("answer")])
        assert len(before) == source.start


def test_passage_rows_follow_the_retrieval_order(seeds_pipeline: Pipeline) -> None:
    answer = seeds_pipeline.ask("How many sailors were killed in the sinking of the Cheonan?", 3)
    rows = render.passage_rows(answer.passages)
    assert [row[0] for row in rows] == [1, 2, 3]
    assert [row[1] for row in rows] == [hit.chunk.doc_id for hit in answer.passages]
    assert all(len(row) == len(render.PASSAGE_HEADERS) for row in rows)
    assert rows[0][-1] == answer.passages[0].chunk.text


def test_both_spans_of_one_sentence_are_bold_in_its_card_and_highlighted(seeds_pipeline: Pipeline, seeds_documents) -> None:
    answer = seeds_pipeline.ask("Where did Ahn Gyu-back and Gen Nakatani meet?")
    sources = answer_sources(answer)
    [source] = [s for s in sources if len(s.spans) == 2]
    card = render.source_card(source, 1).replace("\\", "")
    assert card.count("**SEOUL**") == 1 and card.count("**Seoul**") == 1
    assert [text for text, label in render.highlighted_passage(source) if label] == ["SEOUL", "Seoul"]
    document = seeds_documents[source.doc_id]
    assert [text for text, label in render.highlighted_document(document, source) if label] == ["SEOUL", "Seoul"]


def test_a_sentence_that_opens_with_a_quotation_mark_is_not_quoted_twice() -> None:
    from rag.types import Answer, Chunk, Citation

    text = "“We will cooperate,” the minister said in Seoul."
    start = text.index("Seoul")
    passage = Chunk("a.md", 0, 0, len(text), text)
    answer = Answer("Where?", "Seoul", (Citation("a.md", 0, start, start + 5, "Seoul", passage, 0.4),), 0.4)
    card = render.source_card(answer_sources(answer)[0], 1)
    assert "““" not in card and "\n> “We will cooperate,” the minister said in **Seoul**.  " in card.replace("\\", "")
    plain = "The minister said it in Seoul."
    passage = Chunk("b.md", 0, 0, len(plain), plain)
    answer = Answer("Where?", "Seoul", (Citation("b.md", 0, 24, 29, "Seoul", passage, 0.4),), 0.4)
    assert "> “The minister said it in **Seoul**.”" in render.source_card(answer_sources(answer)[0], 1).replace("\\", "")


def test_the_evidence_title_says_what_is_highlighted(seeds_pipeline: Pipeline) -> None:
    answered = answer_sources(seeds_pipeline.ask("Where did Ahn Gyu-back and Gen Nakatani meet?"))
    declined = answer_sources(seeds_pipeline.ask("Who painted the Mona Lisa?"), seeds_pipeline.document_info)
    assert render.evidence_label(answered[0]) == "Passage (the answer is highlighted)"
    assert "nothing is highlighted" in render.evidence_label(declined[0])
    assert "the answer is highlighted" not in render.evidence_label(declined[0])


def test_labels_of_sources_of_one_document_name_their_sentences(seeds_pipeline: Pipeline) -> None:
    answer = seeds_pipeline.ask("Who painted the Mona Lisa?")
    sources = answer_sources(answer, seeds_pipeline.document_info)
    labels = render.source_labels(sources)
    assert len({label.split("] ", 1)[1] for label in labels}) == len(labels)
    for source, label in zip(sources, labels):
        if sum(s.name == source.name for s in sources) > 1:
            assert f"{source.name}: “" in label


def test_overlapping_spans_of_alternatives_are_marked_once() -> None:
    from rag.types import Alternative, Answer, Chunk, Citation

    text = "The band of 40 players and 60 singers will perform in Nagoya."
    passage = Chunk("a.md", 0, 0, len(text), text)
    cite = lambda s, e: Citation("a.md", 0, s, e, text[s:e], passage, 0.3)  # noqa: E731
    chosen = Answer("How many performers?", "100", (Citation("b.md", 0, 0, 3, "100", Chunk("b.md", 0, 0, 3, "100"), 0.5),), 0.5)
    answer = Alternative("40 players", 0.3, (cite(12, 22),)), Alternative("40", 0.2, (cite(12, 14),))
    from dataclasses import replace

    [source] = [s for s in answer_sources(replace(chosen, alternatives=answer)) if s.doc_id == "a.md"]
    assert "".join(source.quote) == text  # the sentence once, whatever the spans
    pieces = render.highlighted_passage(source)
    assert "".join(piece for piece, _ in pieces) == text
    assert [piece for piece, label in pieces if label] == ["40 players"]
