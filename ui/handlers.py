"""What the web chat does when people act: ask, pick a source, open a document, upload files.

Each handler takes the pipeline and plain values and returns a typed result; ui/app.py only wires
them to Gradio components. Errors a user can act on come back as text in the chat, or as ``gr.Error``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from rag.conversation import Conversation
from rag.errors import RagError
from rag.pipeline import Pipeline
from rag.questions import check_question
from rag.types import Answer
from rag.uploads import UploadExistsError

from . import render
from .sources import Source, answer_sources

# Follow-up questions look back one turn; a few are kept per browser session.
_TURNS_KEPT = 5
# A question refused as too long is echoed cut to this many characters (with its length), so the
# refusal stays in view under it.
_ECHO_CHARS = 280
_MARKER_TARGET = re.compile(r"^(\d+)-(\d+)(?:@.*)?$")


@dataclass(slots=True)
class ChatTurn:
    """Everything one question changes on the page."""

    history: list[dict[str, Any]]  # the chat messages, the new question and answer at the end
    answer: Answer | None = None  # None: the question was refused (the chat says why)
    turns: list[Any] = field(default_factory=list)  # the conversation, for follow-ups
    sources: list[Source] = field(default_factory=list)  # the answer's numbered sources

    @property
    def source_labels(self) -> list[str]:
        return render.source_labels(self.sources)

    @property
    def passage_rows(self) -> list[list[Any]] | None:
        return render.passage_rows(self.answer.passages) if self.answer else None


@dataclass(frozen=True, slots=True)
class Echo:
    """The chat right after a question is sent, before it is answered."""

    history: list[dict[str, Any]]
    pending: str  # the question to answer; "" when there is none
    refused: bool = False  # the question was refused at once (the chat says why)


def echo_question(text: str, history: list[dict[str, Any]] | None) -> Echo:
    """The chat with the question shown at once, and the question to answer. An empty question
    changes nothing (the page says why in a notice); one rag would refuse (too long) is refused here,
    before it is answered, shown cut short with the refusal under it."""
    history = list(history or [])
    text = (text or "").strip()
    if not text:
        return Echo(history, "")
    try:
        check_question(text)
    except RagError as err:
        shown = text if len(text) <= _ECHO_CHARS else f"{text[:_ECHO_CHARS]}… ({len(text):,} characters)"
        history += [{"role": "user", "content": render.escape_markdown(shown)},
                    {"role": "assistant", "content": render.escape_markdown(f"Sorry: {err}")}]
        return Echo(history, "", refused=True)
    history.append({"role": "user", "content": render.escape_markdown(text)})
    return Echo(history, text)


def respond(pipeline: Pipeline, text: str, history: list[dict[str, Any]] | None, top_k: int, retrieval: str,
            min_confidence: float, past_turns: list[Any] | None, number: int = 1) -> ChatTurn:
    """Answer the question that ``history`` already ends with (see ``echo_question``).

    Args:
        number: This answer's place in the conversation (from 1), which its ``[n]`` markers name.
    """
    history = list(history or [])
    conversation = Conversation(pipeline)
    conversation.turns = list(past_turns or [])
    try:
        answer = conversation.ask(text, top_k, retrieval=retrieval, min_confidence=min_confidence)
    except RagError as err:
        history.append({"role": "assistant", "content": render.escape_markdown(f"Sorry: {err}")})
        return ChatTurn(history, None, list(past_turns or []))
    sources = answer_sources(answer, pipeline.document_info)
    history.extend(render.answer_messages(answer, min_confidence, number, sources))
    return ChatTurn(history, answer, conversation.turns[-_TURNS_KEPT:], sources)


def marker_target(target: str | None) -> tuple[int, int] | None:
    """(answer number, source number) from a clicked marker's "2-3" (with an optional "@time"), or None."""
    match = _MARKER_TARGET.match((target or "").strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def picked_source(label: str | None, sources: list[Source] | None) -> Source | None:
    """The source an evidence-picker label names, or None."""
    if not label or not sources:
        return None
    labels = render.source_labels(sources)
    return sources[labels.index(label)] if label in labels else None


def document_with_span(pipeline: Pipeline, source: Source | None) -> list[tuple[str, str | None]]:
    """The source's document whole, its span highlighted.

    Raises:
        gr.Error: No source is picked, or the document cannot be read.
    """
    if source is None:
        raise gr.Error("Pick a source first: ask a question, then choose one of its sources above.")
    try:
        document = pipeline.document(source.doc_id)
    except RagError as err:
        raise gr.Error(str(err)) from None
    passage = source.passage
    if document.text[passage.start:passage.end] != passage.text:  # edited since this answer was given
        gr.Warning(f"{source.name} changed since this answer: shown as it is now, without the old span; "
                   "ask again for an answer from it as it is.")
        return [(document.text, None)]
    return render.highlighted_document(document, source)


def add_files(pipeline: Pipeline, files: list[Any] | None, replace: bool = False) -> str:
    """Save and index uploaded files; one line per file saying what happened (Markdown).

    A file is a path or Gradio's file data (``{"path": ..., "orig_name": ...}``, the upload event
    unprocessed): the name checked and saved is the one the browser sent, never one Gradio cleaned
    up, so "../escape.txt" is refused by that name instead of being saved as "escape.txt". Gradio
    keeps each upload in its temporary folder; rag removes that copy once it has read it, accepted or
    refused, so refused files do not pile up there.
    """
    if not files:
        return ""
    lines = []
    for file in files:
        path, name = _upload_path_and_name(file)
        try:
            data = path.read_bytes()
            report = pipeline.add_document(name, data, replace=replace)
        except UploadExistsError:
            lines.append(f"Refused {name}: uploads/{name} exists already. Tick “Replace documents with the same "
                         "name” to replace it, or rename the file.")
        except RagError as err:
            lines.append(_refusal(name, str(err)))
        except OSError as err:
            lines.append(f"Refused {name}: cannot read the upload ({err.strerror or err})")
        else:
            doc_id = f"uploads/{name}"
            verb = "added" if doc_id in report.added else "replaced" if doc_id in report.changed else "the same text again"
            count = report.passages_embedded
            lines.append(f"Added: uploads/{name} ({verb}; {count} passage{'s' if count != 1 else ''} indexed)")
        finally:
            remove_gradio_copy(path)
    return "  \n".join(render.escape_markdown(line) for line in lines)


def remove_uploads(pipeline: Pipeline, doc_ids: list[str] | None) -> str:
    """Delete uploaded documents and drop them from the index; one line per document (Markdown)."""
    lines = []
    for doc_id in doc_ids or []:
        try:
            pipeline.remove_document(doc_id)
        except RagError as err:
            lines.append(f"Not removed {doc_id}: {err}")
        else:
            lines.append(f"Removed: {doc_id} (deleted, and dropped from the index)")
    return "  \n".join(render.escape_markdown(line) for line in lines) or "Tick the documents to remove first."


def _upload_path_and_name(file: Any) -> tuple[Path, str]:
    if isinstance(file, dict):
        path = Path(file["path"])
        return path, file.get("orig_name") or path.name
    path = Path(file if isinstance(file, str) else file.name)
    return path, path.name


def _refusal(name: str, reason: str) -> str:
    """"Refused notes.pdf: why", however the reason begins."""
    if reason.startswith("refused "):  # "refused photo.pdf: …", "refused file name '..': …"
        return "Refused " + reason.removeprefix("refused ")
    return f"Refused {name}: {reason}"


def remove_gradio_copy(path: Path) -> bool:
    """Delete Gradio's temporary copy of an upload (and its folder, if that is left empty); a file
    outside Gradio's upload folder is never touched. Says whether it removed the file."""
    from gradio.utils import get_upload_folder

    root = Path(get_upload_folder()).resolve()
    try:
        real = path.resolve(strict=True)
    except OSError:
        return False
    if not real.is_relative_to(root) or real == root or not real.is_file():
        return False
    real.unlink(missing_ok=True)
    if real.parent != root and not any(real.parent.iterdir()):
        real.parent.rmdir()
    return True
