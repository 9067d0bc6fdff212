"""Turn rag's answers into what the web chat shows: chat messages, highlighted evidence, tables.

Pure functions over the public types, so they are tested without a browser. Document text and the
user's question are never trusted as markup: everything that reaches Markdown goes through
``escape_markdown`` and everything else is handed to components that show plain text.
"""

from __future__ import annotations

import html
import re
from typing import Any

from rag.chunker import sentence_around
from rag.text import shorten, source_list
from rag.types import Answer, Citation, Document, Hit

# Every character Markdown (CommonMark + GFM) gives a meaning to; a backslash makes it literal.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>$=:])")
# Spaces at the start of a line would turn document text into a code block.
_LEADING_SPACES = re.compile(r"(?<=\n)[ \t]+")
_SNIPPET_CHARS = 240
_TITLE_CHARS = 60


def escape_markdown(text: str, line_start: bool = True) -> str:
    """Text that Markdown shows exactly as written: no HTML, no emphasis, no links, no code.

    Args:
        line_start: ``text`` begins a line (so leading spaces would indent it); False for a
            piece that continues a line.
    """
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))
    escaped = _LEADING_SPACES.sub(lambda m: "&nbsp;" * len(m.group()), escaped)
    if line_start and escaped[:1] in (" ", "\t"):
        stripped = escaped.lstrip(" \t")
        escaped = "&nbsp;" * (len(escaped) - len(stripped)) + stripped
    return escaped


def answer_messages(answer: Answer, min_confidence: float) -> list[dict[str, Any]]:
    """The assistant's chat messages for one answer: the statement, then a collapsible list.

    An answer reads as its sentence with the span in bold, then confidence and citation numbers;
    the second message (titled, so the chat shows it folded) lists the citations' passages.
    Abstaining says so plainly and lists the passages that came closest.
    """
    taken_as = f"*Taken as:* {escape_markdown(answer.interpreted_as)}\n\n" if answer.interpreted_as else ""
    messages = _answer_messages(answer, min_confidence)
    if taken_as:
        messages[0] = {**messages[0], "content": taken_as + messages[0]["content"]}
    return messages


def _answer_messages(answer: Answer, min_confidence: float) -> list[dict[str, Any]]:
    if answer.abstained:
        text = (
            f"**The documents don't say.** The best candidate had confidence {answer.confidence:.2f}, "
            f"below the threshold {min_confidence:.2f}."
        )
        closest = "\n\n".join(
            f"**{n}.** {escape_markdown(hit.chunk.doc_id)} (score {hit.score:.3f})  \n{_snippet(hit.chunk.text)}"
            for n, hit in enumerate(answer.passages[:3], start=1)
        )
        messages = [{"role": "assistant", "content": text}]
        if closest:
            messages.append({"role": "assistant", "content": closest, "metadata": {"title": "Closest passages", "status": "done"}})
        return messages

    best = answer.citations[0]
    numbers = "".join(f"[{n}]" for n in range(1, len(answer.citations) + 1))
    passages = answer.to_json()["supporting_passages"]
    found_in = f"found in {passages} passage{'s' if passages != 1 else ''}"
    source = " · ".join(escape_markdown(v) for v in (best.title and shorten(best.title, _TITLE_CHARS), best.date) if v)
    statement = (
        f"**{escape_markdown(answer.text or '')}**\n\n"
        f"“{_sentence_with_span(best)}” {numbers}\n\n"
        + (f"Source: {source}\n\n" if source else "")
        + f"Confidence {answer.confidence:.2f} · {found_in}"
    )
    if answer.alternatives:
        versions = [f"“{escape_markdown(answer.text or '')}” ({escape_markdown(source_list(answer.citations))})"]
        versions += [f"“{escape_markdown(a.text)}” ({escape_markdown(source_list(a.citations))}, confidence {a.confidence:.2f})"
                     for a in answer.alternatives]
        statement += "\n\n**The sources disagree:** " + "; ".join(versions) + "."
        if answer.chosen_because:
            statement += f" Chosen: “{escape_markdown(answer.text or '')}”, because {escape_markdown(answer.chosen_because)}."
    listing = "\n\n".join(
        f"**[{n}]** {escape_markdown(c.doc_id + _where(c))}, characters {c.start}–{c.end}  \n{_passage_with_span(c)}"
        for n, c in enumerate(answer.citations, start=1)
    )
    return [
        {"role": "assistant", "content": statement},
        {"role": "assistant", "content": listing, "metadata": {"title": f"Citations ({len(answer.citations)})", "status": "done"}},
    ]


def citation_labels(answer: Answer) -> list[str]:
    """One label per citation for the evidence picker: "[1] doc_id, characters 85–90"."""
    return [f"[{n}] {c.doc_id}{_where(c)}, characters {c.start}–{c.end}" for n, c in enumerate(answer.citations, start=1)]


def _where(citation: Citation) -> str:
    """" — title (date, p. 3)" as far as the document states them."""
    details = ", ".join(v for v in (citation.date, f"p. {citation.page}" if citation.page else None) if v)
    title = f" — {shorten(citation.title, _TITLE_CHARS)}" if citation.title else ""
    return title + (f" ({details})" if details else "")


def highlighted_passage(citation: Citation) -> list[tuple[str, str | None]]:
    """The citation's passage as (text, label) pieces for gr.HighlightedText, the span labelled."""
    passage = citation.passage
    return _highlight(passage.text, citation.start - passage.start, citation.end - passage.start)


def highlighted_document(document: Document, citation: Citation) -> list[tuple[str, str | None]]:
    """The whole document with the cited span labelled."""
    return _highlight(document.text, citation.start, citation.end)


def passage_rows(hits: tuple[Hit, ...] | list[Hit]) -> list[list[Any]]:
    """Rows of the retrieved-passages table: rank, document, characters, scores, passage."""
    return [
        [
            rank,
            hit.chunk.doc_id,
            f"{hit.chunk.start}–{hit.chunk.end}",
            round(hit.score, 4),
            round(hit.dense_score, 3),
            round(hit.bm25_score, 2),
            hit.chunk.text,
        ]
        for rank, hit in enumerate(hits, start=1)
    ]


PASSAGE_HEADERS = ["#", "document", "characters", "score", "cosine", "BM25", "passage"]


def _highlight(text: str, start: int, end: int) -> list[tuple[str, str | None]]:
    pieces: list[tuple[str, str | None]] = [(text[:start], None), (text[start:end], "answer"), (text[end:], None)]
    return [(piece, label) for piece, label in pieces if piece]


def _sentence_with_span(citation: Citation) -> str:
    passage = citation.passage
    start, end = citation.start - passage.start, citation.end - passage.start
    first, last = sentence_around(passage.text, start, end)
    return (
        escape_markdown(passage.text[first:start])
        + f"**{escape_markdown(passage.text[start:end], line_start=False)}**"
        + escape_markdown(passage.text[end:last], line_start=False)
    )


def _passage_with_span(citation: Citation) -> str:
    passage = citation.passage
    start, end = citation.start - passage.start, citation.end - passage.start
    return (
        escape_markdown(passage.text[:start])
        + f"**{escape_markdown(passage.text[start:end], line_start=False)}**"
        + escape_markdown(passage.text[end:], line_start=False)
    )


def _snippet(text: str) -> str:
    return escape_markdown(shorten(text, _SNIPPET_CHARS))
