"""The Gradio web chat: a thin layer over ``rag.Pipeline`` (ask, document, add_document, search)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from rag.config import RETRIEVAL_MODES, Config
from rag.errors import RagError
from rag.pipeline import Pipeline
from rag.types import Answer

from . import handlers, render

EXAMPLE_QUESTIONS = (
    "Where did Ahn Gyu-back and Gen Nakatani meet?",
    "In which year did South Korea and Japan normalize diplomatic ties?",
    "What is the capital of France?",
)

# Everything that touches the pipeline runs one at a time, in arrival order: each request gets
# its own answer, and an upload never re-indexes under a question being answered.
_PIPELINE_QUEUE = "pipeline"

# HighlightedText lays each piece out as a box, so the text after a highlight would start on a new
# line; inline pieces read as one flowing passage.
_CSS = """
#evidence .textfield, #document-view .textfield { display: block !important; word-break: normal !important;
  overflow-wrap: break-word; line-height: 1.6; }
#evidence .token-container, #evidence .token, #evidence .text,
#document-view .token-container, #document-view .token, #document-view .text { display: inline !important; }
#evidence .text, #document-view .text { white-space: pre-wrap; }
#evidence .line-break, #document-view .line-break { display: block; height: 0.35em; }
#evidence .token, #document-view .token { padding: 0 !important; margin: 0 !important; }
#evidence .highlighted, #document-view .highlighted { padding: 0 2px !important; border-radius: 3px; }
#document-view .textfield { max-height: 28rem; overflow-y: auto; }
"""


_SCROLL_TO_SPAN = """() => { setTimeout(() => document.querySelector('#document-view .highlighted')
    ?.scrollIntoView({block: 'center', behavior: 'smooth'}), 100); }"""


def build_app(pipeline: Pipeline) -> gr.Blocks:
    """The chat app over one pipeline; launch it with ``launch_options(pipeline)``."""
    config = pipeline.config
    with gr.Blocks(title="rag — cited answers from your documents", analytics_enabled=False) as app:
        page = _build_page(config)
        _wire(page, pipeline)
    return app


def _wire(page: _Page, pipeline: Pipeline) -> None:
    """Connect the page's events to the handlers (ui/handlers.py) and expose the /ask API."""
    config = pipeline.config
    (last_answer, turns, chat, question, send, citation_picker, evidence, open_document, document_view, top_k, retrieval,
     threshold, uploads, upload_status, passages) = (getattr(page, n) for n in _Page.__slots__)
    ask_inputs = [question, chat, top_k, retrieval, threshold, turns]
    ask_outputs = [chat, question, passages, last_answer, citation_picker, evidence, document_view, turns]

    def ask_in_chat(text: str, history: list[dict[str, Any]], k: float, mode: str, min_conf: float, past: list):
        turn = handlers.respond(pipeline, text, history, int(k), mode, float(min_conf), past)
        labels = turn.citation_labels
        return (turn.history, "", turn.passage_rows, turn.answer,
                gr.update(choices=labels, value=labels[0] if labels else None), turn.evidence,
                gr.update(value=None, visible=False), turn.turns)

    chat.clear(lambda: [], None, turns, api_visibility="private")

    for trigger in (question.submit, send.click):
        trigger(ask_in_chat, ask_inputs, ask_outputs, concurrency_id=_PIPELINE_QUEUE, api_visibility="private")

    def pick_example(selected: gr.SelectData) -> str:
        return selected.value["text"]

    # An example in the empty chat is asked at once; the ones under the box only fill it in.
    chat.example_select(pick_example, None, question, api_visibility="private").then(
        ask_in_chat, ask_inputs, ask_outputs, concurrency_id=_PIPELINE_QUEUE, api_visibility="private"
    )

    def show_citation(label: str | None, answer: Answer | None):
        citation = handlers.picked_citation(label, answer)
        if citation is None:
            return None, gr.update(visible=False)
        return render.highlighted_passage(citation), gr.update(value=None, visible=False)

    citation_picker.change(
        show_citation, [citation_picker, last_answer], [evidence, document_view], api_visibility="private"
    )

    def show_document(label: str | None, answer: Answer | None):
        citation = handlers.picked_citation(label, answer)
        pieces = handlers.document_with_span(pipeline, citation)
        return gr.update(value=pieces, visible=True, label=f"Document {citation.doc_id}")

    open_document.click(
        show_document, [citation_picker, last_answer], [document_view], api_visibility="private"
    ).then(None, js=_SCROLL_TO_SPAN)

    uploads.upload(lambda files: handlers.add_files(pipeline, files), [uploads], [upload_status],
                   concurrency_id=_PIPELINE_QUEUE, api_visibility="private")

    def ask(question: str, top_k: int = config.top_k, retrieval: str = config.retrieval,
            min_confidence: float = config.min_confidence) -> dict:
        """Answer a question from the documents; the same object as `rag ask --json`."""
        try:
            return pipeline.ask(question, int(top_k), retrieval=retrieval, min_confidence=float(min_confidence)).to_json()
        except RagError as err:
            raise gr.Error(str(err)) from None

    gr.api(ask, api_name="ask", concurrency_id=_PIPELINE_QUEUE)


@dataclass(frozen=True, slots=True)
class _Page:
    """The components of the chat page, for the event wiring."""

    last_answer: Any
    turns: Any
    chat: Any
    question: Any
    send: Any
    citation_picker: Any
    evidence: Any
    open_document: Any
    document_view: Any
    top_k: Any
    retrieval: Any
    threshold: Any
    uploads: Any
    upload_status: Any
    passages: Any


def _build_page(config: Config) -> _Page:
    """Lay the page out (inside an open ``gr.Blocks``): chat on the left, evidence and settings on the right."""
    last_answer = gr.State(None)
    turns = gr.State([])  # this browser session's conversation, for follow-up questions
    gr.Markdown(
        f"## rag — cited answers from your documents\n"
        f"Answers are exact quotes from the documents in {render.escape_markdown(config.corpus_dir.name or str(config.corpus_dir))}, "
        f"with their sources; when the documents don't say, rag says so."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            chat = gr.Chatbot(
                label="Conversation",
                height=520,
                latex_delimiters=[],
                allow_tags=False,
                sanitize_html=True,
                feedback_options=None,
                buttons=["copy"],
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
        with gr.Column(scale=2):
            with gr.Group(elem_id="evidence-panel"):
                citation_picker = gr.Radio(label="Evidence for the last answer", choices=[], elem_id="citations")
                evidence = gr.HighlightedText(
                    label="Passage (the answer is highlighted)",
                    color_map={"answer": "yellow"},
                    show_legend=False,
                    show_inline_category=False,
                    combine_adjacent=False,
                    elem_id="evidence",
                )
                open_document = gr.Button("Open the whole document", elem_id="open-document")
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
                uploads = gr.File(
                    label=f"Upload .txt or .md files (up to {config.max_upload_bytes / 1e6:g} MB each)",
                    file_count="multiple",
                    file_types=[".txt", ".md"],
                    elem_id="upload",
                )
                upload_status = gr.Markdown(elem_id="upload-status")
    passages = gr.Dataframe(
        headers=render.PASSAGE_HEADERS,
        datatype=["number", "str", "str", "number", "number", "number", "str"],
        label="Retrieved passages for the last question",
        interactive=False,
        wrap=True,
        max_height=420,
        column_widths=["40px", "200px", "90px", "80px", "70px", "60px", "560px"],
        elem_id="passages",
    )
    return _Page(last_answer=last_answer, turns=turns, chat=chat, question=question, send=send, citation_picker=citation_picker, evidence=evidence, open_document=open_document, document_view=document_view, top_k=top_k, retrieval=retrieval, threshold=threshold, uploads=uploads, upload_status=upload_status, passages=passages)


def launch_options(pipeline: Pipeline) -> dict[str, Any]:
    """Options for ``app.launch`` that keep the page self-contained and uploads within limits."""
    return {
        "css": _CSS,
        "max_file_size": pipeline.config.max_upload_bytes,
        "show_error": True,
        "footer_links": ["api"],
    }

