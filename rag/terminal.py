"""Answers as people read them in a terminal: the answer, its confidence, numbered sources in context."""

from __future__ import annotations

from rag.text import printable, shorten, snippet
from rag.types import Answer, Citation


def render_answer(answer: Answer) -> str:
    """The answer as people read it in a terminal: answer, confidence, numbered sources."""
    lines = []
    if answer.text is None:
        lines.append(f"{answer.message} (confidence {answer.confidence:.2f})")
        for n, hit in enumerate(answer.passages, start=1):
            lines.append(f"  [{n}] {printable(hit.chunk.doc_id)} [{hit.chunk.start}:{hit.chunk.end}] {snippet(hit.chunk.text)}")
        return "\n".join(lines)
    if answer.interpreted_as:
        lines.append(f"(taken as: {answer.interpreted_as})")
    lines.append(f"{answer.text}    (confidence {answer.confidence:.2f})")
    lines += _citation_lines(answer.citations)
    if answer.alternatives:
        lines.append("The sources disagree:" + (f" chose “{answer.text}” because {answer.chosen_because}." if answer.chosen_because else ""))
        for alternative in answer.alternatives:
            lines.append(f"  or: {alternative.text}    (confidence {alternative.confidence:.2f})")
            lines += _citation_lines(alternative.citations, indent="    ")
    return "\n".join(lines)


def _citation_lines(citations: tuple[Citation, ...], indent: str = "  ") -> list[str]:
    lines = []
    for n, c in enumerate(citations, start=1):
        before = c.passage.text[: c.start - c.passage.start]
        after = c.passage.text[c.end - c.passage.start :]
        context = f"{snippet(before, tail=True)}«{c.quote}»{snippet(after)}"
        where = " · ".join(v for v in (_quoted_title(c.title), c.date, f"p. {c.page}" if c.page else None) if v)
        lines.append(f"{indent}[{n}] {printable(c.doc_id)}{f' ({where})' if where else ''} [{c.start}:{c.end}] {context}")
    return lines


def _quoted_title(title: str | None, width: int = 48) -> str | None:
    return f"“{shorten(title, width)}”" if title else None
