"""The chat page's layout: chat on the left, evidence, settings and uploads on the right, the
retrieval details folded under both. ui/app.py wires its components to the handlers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from rag.config import RETRIEVAL_MODES, Config
from rag.uploads import UPLOAD_SUFFIXES

from . import render

EXAMPLE_QUESTIONS = (
    "Where did Ahn Gyu-back and Gen Nakatani meet?",
    "In which year did South Korea and Japan normalize diplomatic ties?",
    "What is the capital of France?",
)


@dataclass(frozen=True, slots=True)
class Page:
    """The components of the chat page, for the event wiring."""

    answers: Any  # per answer of this browser session (from 1), its sources
    shown: Any  # the answer whose sources the evidence panel lists (0: none)
    pending: Any  # the question being answered
    turns: Any
    chat: Any
    question: Any
    send: Any
    source_target: Any  # hidden: the [n] marker last clicked
    source_picker: Any
    evidence: Any
    open_document: Any
    document_view: Any
    top_k: Any
    retrieval: Any
    threshold: Any
    uploads: Any
    replace_uploads: Any  # replace an upload of the same name (otherwise it is refused, saying so)
    upload_status: Any
    uploaded: Any  # the uploaded documents, to remove
    remove_uploads: Any
    passages: Any


def build_page(config: Config, open_document_label: str) -> Page:
    """Lay the page out (inside an open ``gr.Blocks``): chat on the left, evidence and settings on the right."""
    answers, shown, pending = gr.State([]), gr.State(0), gr.State("")
    turns = gr.State([])  # this browser session's conversation, for follow-up questions
    gr.Markdown(
        f"## rag — cited answers from your documents\n"
        f"Answers are exact quotes from the documents in {render.escape_markdown(config.corpus_dir.name or str(config.corpus_dir))}, "
        f"with numbered sources; when the documents don't say, rag says so.",
        elem_id="intro",
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=320):
            chat = gr.Chatbot(
                label="Conversation",
                show_label=False,
                height=560,
                latex_delimiters=[],
                allow_tags=False,
                sanitize_html=True,
                feedback_options=None,
                buttons=["copy"],
                autoscroll=False,
                placeholder="Ask a question about the documents, or click an example.",
                examples=[{"text": q} for q in EXAMPLE_QUESTIONS],
                elem_id="chat",
            )
            with gr.Row():
                question = gr.Textbox(
                    placeholder="Ask a question…", show_label=False, scale=5, max_lines=4, elem_id="question"
                )
                send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask-button")
            gr.Examples(list(EXAMPLE_QUESTIONS), inputs=question, label="Example questions")
            source_target = gr.Textbox(elem_id="source-target", elem_classes=["rag-hidden"], show_label=False,
                                       container=False)
        with gr.Column(scale=2, min_width=320):
            with gr.Group(elem_id="evidence-panel"):
                source_picker = gr.Radio(label="Sources (ask a question first)", choices=[], elem_id="citations")
                evidence = gr.HighlightedText(
                    label=render.evidence_label(None),
                    color_map={"answer": "yellow"},
                    show_legend=False,
                    show_inline_category=False,
                    combine_adjacent=False,
                    elem_id="evidence",
                )
                open_document = gr.Button(open_document_label, interactive=False, elem_id="open-document")
                document_view = gr.HighlightedText(
                    label="Document", color_map={"answer": "yellow"}, show_legend=False,
                    show_inline_category=False, visible=False, elem_id="document-view",
                )
            with gr.Accordion("Settings", open=False):
                top_k = gr.Slider(1, 20, value=config.top_k, step=1, label="Passages to read (top-k)", elem_id="top-k")
                retrieval = gr.Radio(list(RETRIEVAL_MODES), value=config.retrieval, label="Retrieval", elem_id="retrieval")
                threshold = gr.Slider(
                    0.0, 1.0, value=config.min_confidence, step=0.01,
                    label="Abstain below this confidence", elem_id="threshold",
                )
            with gr.Accordion("Add documents", open=False):
                # No file_types filter: a file of another type reaches rag, which says why it refuses it.
                uploads = gr.File(
                    label=f"Upload documents: {', '.join(UPLOAD_SUFFIXES)} (up to {config.max_upload_bytes / 1e6:g} MB each)",
                    file_count="multiple",
                    elem_id="upload",
                )
                replace_uploads = gr.Checkbox(label="Replace documents with the same name", value=False,
                                              elem_id="replace-uploads")
                upload_status = gr.Markdown(elem_id="upload-status")
                uploaded = gr.CheckboxGroup(label="Uploaded documents (none yet)", choices=[], elem_id="uploaded")
                remove_uploads = gr.Button("Remove the ticked documents", size="sm", elem_id="remove-uploads")
    with gr.Accordion("Why these passages?", open=False, elem_id="why-passages"):
        gr.Markdown(render.PASSAGES_EXPLAINED)
        passages = gr.Dataframe(
            headers=render.PASSAGE_HEADERS,
            datatype=["number", "str", "number", "number", "str"],
            label="Retrieved passages for the last question",
            interactive=False,
            wrap=True,
            max_height=420,
            column_widths=["7%", "18%", "11%", "11%", "53%"],
            elem_id="passages",
        )
    return Page(answers=answers, shown=shown, pending=pending, turns=turns, chat=chat, question=question, send=send,
                 source_target=source_target, source_picker=source_picker, evidence=evidence,
                 open_document=open_document, document_view=document_view, top_k=top_k, retrieval=retrieval,
                 threshold=threshold, uploads=uploads, replace_uploads=replace_uploads, upload_status=upload_status,
                 uploaded=uploaded, remove_uploads=remove_uploads, passages=passages)
