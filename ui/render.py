"""Turn rag's answers into what the web chat shows: chat messages, highlighted evidence, tables.

Pure functions over the public types, so they are tested without a browser. Document text and the
user's question are never trusted as markup: everything that reaches Markdown goes through
``escape_markdown`` and everything else is handed to components that show plain text.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from typing import Any

from rag.types import Answer, Document, Hit

from .sources import Source, answer_sources

# Every character Markdown (CommonMark + GFM) gives a meaning to; a backslash makes it literal.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>$=:])")
# Spaces at the start of a line would turn document text into a code block.
_LEADING_SPACES = re.compile(r"(?<=\n)[ \t]+")
_WHITESPACE = re.compile(r"\s+")


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


def answer_messages(answer: Answer, min_confidence: float, turn: int = 1,
                    sources: list[Source] | None = None) -> list[dict[str, Any]]:
    """The assistant's chat message for one answer: the statement, then its numbered source cards.

    An answer reads as its span in bold with clickable ``[n]`` markers, confidence and one count of
    sources; the cards under it (Markdown block quotes, styled as cards) name each source and quote
    its sentence, the span in bold, the best-supported one first. Abstaining says so plainly, with the closest passages
    as its sources. ``turn`` numbers the answer in the conversation, so that a marker names its
    own message (``#source-<turn>-<n>``) and the page can show that source.
    """
    sources = answer_sources(answer) if sources is None else sources
    taken_as = f"*Taken as:* {escape_markdown(answer.interpreted_as)}\n\n" if answer.interpreted_as else ""
    statement = _abstention(answer, min_confidence, turn, sources) if answer.abstained else _statement(answer, turn, sources)
    cards = "\n\n".join(source_card(source, turn) for source in sources)
    return [{"role": "assistant", "content": taken_as + statement + (f"\n\n{cards}" if cards else "")}]


def marker(turn: int, number: int) -> str:
    """A clickable ``[n]`` that selects source n of answer ``turn``."""
    return f"[\\[{number}\\]](#source-{turn}-{number})"


def source_card(source: Source, turn: int) -> str:
    """One source as a Markdown block quote: number, readable name, date and page, the sentence."""
    said = f" says {_answers(source)}" if source.kind == "alternative" else ""
    head = f"**{marker(turn, source.number)}** {escape_markdown(source.name)}" + (
        f" · {escape_markdown(source.details)}" if source.details else "") + said
    pieces = [escape_markdown(_flat(piece), line_start=i == 0) for i, piece in enumerate(source.quote)]
    quote = "".join(f"**{piece}**" if i % 2 and piece else piece for i, piece in enumerate(pieces))
    lines = [head, _quoted(quote.strip())]
    if source.context:
        lines.append(f"*Also in this passage:* {_quoted(escape_markdown(_flat(source.context)))}")
    return "\n".join(f"> {line}  " for line in lines)


def _answers(source: Source) -> str:
    return " and ".join(f"“{escape_markdown(a)}”" for a in source.answers)


def _quoted(text: str) -> str:
    """“text”, unless the sentence opens with a quotation mark of its own (no doubled “““)."""
    return text if text.startswith(("“", '"', "‘", "'", "«")) else f"“{text}”"


def _statement(answer: Answer, turn: int, sources: list[Source]) -> str:
    own = [s for s in sources if s.kind == "answer"]
    markers = " ".join(marker(turn, s.number) for s in own)
    count = len(sources)
    # The sentences are in the cards under it: the statement is the answer, its markers and one count.
    statement = (
        f"**{escape_markdown(answer.text or '')}** {markers}\n\n"
        f"Confidence {answer.confidence:.2f} · {count} source{'s' if count != 1 else ''}"
    )
    if answer.alternatives:
        versions = [f"“{escape_markdown(answer.text or '')}” {markers}"]
        for alternative in answer.alternatives:
            theirs = " ".join(marker(turn, s.number) for s in sources if s.kind == "alternative" and alternative.text in s.answers)
            versions.append(f"“{escape_markdown(alternative.text)}” {theirs} (confidence {alternative.confidence:.2f})")
        statement += "\n\n**The sources disagree:** " + "; ".join(versions) + "."
        if answer.chosen_because:
            statement += f" Chosen: “{escape_markdown(answer.text or '')}”, because {escape_markdown(answer.chosen_because)}."
    return statement


def _abstention(answer: Answer, min_confidence: float, turn: int, sources: list[Source]) -> str:
    text = (
        f"**The documents don't say.** The best candidate had confidence {answer.confidence:.2f}, "
        f"below the threshold {min_confidence:.2f}."
    )
    if sources:
        text += " Closest passages: " + " ".join(marker(turn, s.number) for s in sources)
    return text


def source_labels(sources: list[Source]) -> list[str]:
    """One label per source for the evidence picker: "[1] name (date)"; where several sources are
    of one document, each also names the start of its sentence, so no two labels read alike."""
    names = Counter(s.name for s in sources)
    return [f"[{s.number}] {s.name}" + (f" ({s.details})" if s.details else "")
            + (f": “{_start_of(''.join(s.quote))}”" if names[s.name] > 1 else "")
            + (" — closest passage" if s.kind == "closest" else f" — says {' and '.join(f'“{a}”' for a in s.answers)}"
               if s.kind == "alternative" else "")
            for s in sources]


def _start_of(sentence: str, width: int = 48) -> str:
    flat = _flat(sentence).strip().lstrip("“\"‘'")
    return flat if len(flat) <= width else flat[:width].rsplit(" ", 1)[0] + "…"


def highlighted_passage(source: Source) -> list[tuple[str, str | None]]:
    """The source's passage as (text, label) pieces for gr.HighlightedText, its spans labelled
    (a closest passage has none)."""
    return _highlight(source.passage.text, source.spans_in_passage)


def highlighted_document(document: Document, source: Source) -> list[tuple[str, str | None]]:
    """The whole document with the source's spans (or a closest passage whole) labelled."""
    return _highlight(document.text, list(source.spans))


def evidence_label(source: Source | None) -> str:
    """The evidence panel's title for a source: what is highlighted in it, if anything."""
    if source is None:
        return "Passage (ask a question first)"
    if source.kind != "closest":
        return "Passage (the answer is highlighted)"
    return "Closest passage (no answer found: nothing is highlighted)"


def passage_rows(hits: tuple[Hit, ...] | list[Hit]) -> list[list[Any]]:
    """Rows of the "Why these passages?" table: rank, document, how close in meaning, words shared, passage."""
    return [
        [rank, hit.chunk.doc_id, round(hit.dense_score, 2), round(hit.bm25_score, 1), hit.chunk.text]
        for rank, hit in enumerate(hits, start=1)
    ]


PASSAGE_HEADERS = ["rank", "document", "meaning match (0–1)", "shared words (BM25)", "passage"]
PASSAGES_EXPLAINED = (
    "rag looks for passages two ways: by **meaning** (how close the passage's embedding is to the "
    "question's, from 0 to 1) and by **shared words** (BM25: higher when the passage shares more of the "
    "question's rarer words; 0 when it shares none). The hybrid setting ranks by both; the reader then "
    "looks for the answer in the top passages."
)


def _highlight(text: str, spans: list[tuple[int, int]]) -> list[tuple[str, str | None]]:
    pieces: list[tuple[str, str | None]] = []
    position = 0
    for start, end in sorted(spans):
        start = max(start, position)  # overlapping spans are marked once
        pieces += [(text[position:start], None), (text[start:end], "answer")]
        position = max(position, end)
    pieces.append((text[position:], None))
    return [(piece, label) for piece, label in pieces if piece]


def _flat(text: str) -> str:
    """A quote on one line (a line break would end the card's block quote); edge spaces kept as one."""
    return _WHITESPACE.sub(" ", text)
