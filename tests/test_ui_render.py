"""What the web chat shows, built from real answers: escaping, answer messages, highlighted evidence."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from rag.ui import render

from rag import Pipeline

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


def test_answer_reads_as_its_sentence_with_numbered_citations(seeds_pipeline: Pipeline) -> None:
    answer = seeds_pipeline.ask("Where did Ahn Gyu-back and Gen Nakatani meet?")
    statement, listing = render.answer_messages(answer, 0.5)
    assert statement["role"] == "assistant" and "metadata" not in statement
    assert statement["content"].startswith("**Seoul**")
    assert "met in **Seoul** on Monday" in statement["content"].replace("\\", "")
    assert f"[{len(answer.citations)}]" in statement["content"]
    assert f"Confidence {answer.confidence:.2f}" in statement["content"]
    assert listing["metadata"]["title"] == f"Citations ({len(answer.citations)})"
    for n, citation in enumerate(answer.citations, start=1):
        assert f"**[{n}]** {render.escape_markdown(citation.doc_id)}" in listing["content"]
    label = render.citation_labels(answer)[0]
    assert label.startswith(f"[1] {answer.citations[0].doc_id} — South Korean Defense Minister") and ", characters 85–90" in label


def test_abstention_says_so_and_lists_the_closest_passages(seeds_pipeline: Pipeline) -> None:
    answer = seeds_pipeline.ask("Who painted the Mona Lisa?")
    assert answer.abstained
    statement, closest = render.answer_messages(answer, 0.5)
    assert "The documents don't say." in statement["content"]
    assert "below the threshold 0.50" in statement["content"]
    assert closest["metadata"]["title"] == "Closest passages"
    assert closest["content"].count("(score ") == min(3, len(answer.passages))
    assert render.citation_labels(answer) == []


def test_highlights_cover_exactly_the_cited_span(seeds_pipeline: Pipeline, seeds_documents) -> None:
    answer = seeds_pipeline.ask("In what year did South Korea and Japan normalize diplomatic relations?")
    for citation in answer.citations:
        pieces = render.highlighted_passage(citation)
        assert "".join(text for text, _ in pieces) == citation.passage.text
        assert [text for text, label in pieces if label] == [citation.quote]
        document = seeds_documents[citation.doc_id]
        whole = render.highlighted_document(document, citation)
        assert "".join(text for text, _ in whole) == document.text
        before = "".join(text for text, label in whole[: [label for _, label in whole].index("answer")])
        assert len(before) == citation.start


def test_passage_rows_follow_the_retrieval_order(seeds_pipeline: Pipeline) -> None:
    answer = seeds_pipeline.ask("How many sailors were killed in the sinking of the Cheonan?", 3)
    rows = render.passage_rows(answer.passages)
    assert [row[0] for row in rows] == [1, 2, 3]
    assert [row[1] for row in rows] == [hit.chunk.doc_id for hit in answer.passages]
    assert all(len(row) == len(render.PASSAGE_HEADERS) for row in rows)
    assert rows[0][-1] == answer.passages[0].chunk.text
