"""Answers as people read them in a terminal: the answer, its confidence, numbered sources in context."""

from __future__ import annotations

from rag.text import inert, printable, shorten, snippet
from rag.types import Answer, Citation


def render_answer(answer: Answer) -> str:
    """The answer as people read it in a terminal: answer, confidence, numbered sources.

    Answers, quotes, titles and snippets are document text, which anyone who can add a document
    wrote: each line is made inert, so no control character in them can move the cursor or hide a line.
    """
    return "\n".join(inert(line) for line in _answer_lines(answer))


def _answer_lines(answer: Answer) -> list[str]:
    lines = []
    if answer.text is None:
        # "The documents don't say. These passages came closest:": the confidence belongs to the first
        # sentence, and the passages follow the second.
        said, _, lead_in = answer.message.partition(". ")
        if lead_in:
            lines += [f"{said} (confidence {answer.confidence:.2f}).", lead_in]
        else:
            lines.append(f"{answer.message} (confidence {answer.confidence:.2f})")
        for n, hit in enumerate(answer.passages, start=1):
            lines.append(f"  [{n}] {printable(hit.chunk.doc_id)} [{hit.chunk.start}:{hit.chunk.end}] {snippet(hit.chunk.text)}")
        return lines
    if answer.interpreted_as:
        lines.append(f"(taken as: {answer.interpreted_as})")
    lines.append(f"{_flat(answer.text)}    (confidence {answer.confidence:.2f})")
    lines += _citation_lines(answer.citations)
    if answer.alternatives:
        because = f" chose “{_flat(answer.text)}” because {answer.chosen_because}." if answer.chosen_because else ""
        lines.append("The sources disagree:" + because)
        for alternative in answer.alternatives:
            lines.append(f"  or: {_flat(alternative.text)}    (confidence {alternative.confidence:.2f})")
            lines += _citation_lines(alternative.citations, indent="    ")
    return lines


def _citation_lines(citations: tuple[Citation, ...], indent: str = "  ") -> list[str]:
    lines = []
    for n, c in enumerate(citations, start=1):
        before = c.passage.text[: c.start - c.passage.start]
        after = c.passage.text[c.end - c.passage.start :]
        context = f"{snippet(before, tail=True)}«{_flat(c.quote)}»{snippet(after)}"
        where = " · ".join(v for v in (_quoted_title(c.title), c.date, f"p. {c.page}" if c.page else None) if v)
        lines.append(f"{indent}[{n}] {printable(c.doc_id)}{f' ({where})' if where else ''} [{c.start}:{c.end}] {context}")
    return lines


def _quoted_title(title: str | None, width: int = 48) -> str | None:
    return f"“{shorten(title, width)}”" if title else None


def _flat(text: str) -> str:
    """A span on one line: PDF and HTML text breaks lines inside sentences, and an answer reads as one."""
    return " ".join(text.split())
