"""The Gradio web chat: a thin layer over ``rag.Pipeline`` (ask, document, add_document, search)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from rag.config import RETRIEVAL_MODES, Config
from rag.errors import RagError
from rag.pipeline import Pipeline

from . import handlers, render
from .sources import Source

EXAMPLE_QUESTIONS = (
    "Where did Ahn Gyu-back and Gen Nakatani meet?",
    "In which year did South Korea and Japan normalize diplomatic ties?",
    "What is the capital of France?",
)

# Everything that touches the pipeline runs one at a time, in arrival order: each request gets
# its own answer, and an upload never re-indexes under a question being answered.
_PIPELINE_QUEUE = "pipeline"

# HighlightedText lays each piece out as a box, so the text after a highlight would start on a new
# line; inline pieces read as one flowing passage. Source cards are the answer's Markdown block
# quotes. At phone width the columns stack (Gradio wraps them): answer first, its cards under it.
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
#chat blockquote { border: 1px solid var(--border-color-primary); border-left: 4px solid var(--color-accent);
  border-radius: 6px; padding: 0.4em 0.7em; margin: 0.5em 0; background: var(--background-fill-secondary); }
#chat a[href^="#source-"] { text-decoration: none; font-weight: 600; cursor: pointer; }
.rag-hidden { display: none !important; }
@media (max-width: 700px) {
  #intro p { display: none; }
  #intro h2 { font-size: 1.1rem; margin: 0; }
  #chat { height: 72vh !important; }
  #chat .bubble-wrap { padding: 6px !important; }
  #chat .message-row { padding-left: 0 !important; padding-right: 0 !important; margin: 2px 0 !important; }
  #chat .message-row, #chat .message, #chat .message-row > div { max-width: 100% !important; }
  .gradio-container, .main, .contain { padding-left: 4px !important; padding-right: 4px !important; }
  #passages { max-width: 100%; overflow-x: auto; }
}
"""

# A click on a [n] marker names its answer and source in a hidden box, which the server answers
# by showing that source. The chat keeps the start of a new answer in view, not its last card.
# Copy gives the message as people read it (with its sources), not its Markdown source.
_PAGE_JS = """() => {
  const target = () => document.querySelector('#source-target textarea, #source-target input');
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a[href*="#source-"]');
    if (!link || !link.closest('#chat')) return;
    event.preventDefault(); event.stopPropagation();
    const box = target();
    if (!box) return;
    box.value = link.getAttribute('href').split('#source-')[1] + '@' + Date.now();
    box.dispatchEvent(new Event('input', {bubbles: true}));
  }, true);
  let copied = null;
  document.addEventListener('click', (event) => {
    const button = event.target.closest && event.target.closest('#chat button');
    // A message's buttons follow it: the message is the nearest earlier sibling with content.
    copied = null;
    for (let node = button && button.closest('.message-buttons'); node; node = node.previousElementSibling) {
      const content = node.querySelector('.message-content');
      if (content) { copied = content; break; }
    }
  }, true);
  if (navigator.clipboard && navigator.clipboard.writeText) {
    const write = navigator.clipboard.writeText.bind(navigator.clipboard);
    navigator.clipboard.writeText = (text) => {
      const message = copied;
      copied = null;
      return write(message ? message.innerText.replace(/\\u00a0/g, ' ').trim() : text);
    };
  }
}"""

_SCROLL_TO_ANSWER = """() => { setTimeout(() => {
  const questions = document.querySelectorAll('#chat [data-testid="user"]');
  const last = questions[questions.length - 1];
  const wrap = last && last.closest('.bubble-wrap, [role=log]');
  if (last && wrap) wrap.scrollTop = last.getBoundingClientRect().top - wrap.getBoundingClientRect().top + wrap.scrollTop - 8;
}, 150); }"""

_SCROLL_TO_SPAN = """() => { setTimeout(() => document.querySelector('#document-view .highlighted')
    ?.scrollIntoView({block: 'center', behavior: 'smooth'}), 100); }"""

_OPEN_DOCUMENT = "Open the whole document"
_OPEN_DOCUMENT_DISABLED = "Open the whole document (ask a question first)"


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
    p = page
    ask_inputs = [p.pending, p.chat, p.top_k, p.retrieval, p.threshold, p.turns, p.answers]
    ask_outputs = [p.chat, p.passages, p.answers, p.shown, p.source_picker, p.evidence, p.document_view, p.turns,
                   p.open_document]

    def echo(text: str, history: list[dict[str, Any]]):
        history, pending = handlers.echo_question(text, history)
        if not pending:
            gr.Warning("Type a question first.")
            return gr.skip(), gr.skip(), ""
        return history, "", pending

    def ask_in_chat(text: str, history: list[dict[str, Any]], k: float, mode: str, min_conf: float, past: list,
                    answers: list):
        if not text:
            return tuple(gr.skip() for _ in ask_outputs)
        number = len(answers) + 1
        turn = handlers.respond(pipeline, text, history, int(k), mode, float(min_conf), past, number)
        labels = turn.source_labels
        return (turn.history, turn.passage_rows, [*answers, turn.sources], number,
                _picker(labels, number, labels[0] if labels else None), turn.evidence,
                gr.update(value=None, visible=False), turn.turns, _open_button(bool(labels)))

    def asked(trigger: Any) -> None:
        trigger(echo, [p.question, p.chat], [p.chat, p.question, p.pending], show_progress="hidden",
                api_visibility="private").then(
            ask_in_chat, ask_inputs, ask_outputs, concurrency_id=_PIPELINE_QUEUE, show_progress="minimal",
            show_progress_on=[p.chat], api_visibility="private",
        ).then(None, js=_SCROLL_TO_ANSWER)

    asked(p.question.submit)
    asked(p.send.click)

    def pick_example(selected: gr.SelectData) -> str:
        return selected.value["text"]

    # An example in the empty chat is asked at once; the ones under the box only fill it in.
    asked(lambda *args, **kwargs: p.chat.example_select(pick_example, None, p.question, api_visibility="private")
          .then(*args, **kwargs))

    def clear():
        return ([], [], 0, _picker([], 0, None), None, gr.update(value=None, visible=False), None, [],
                _open_button(False), "", "")

    p.chat.clear(clear, None, [p.turns, p.answers, p.shown, p.source_picker, p.evidence, p.document_view,
                               p.passages, p.chat, p.open_document, p.pending, p.question], api_visibility="private")

    def show_source(label: str | None, shown: int, answers: list):
        source = handlers.picked_source(label, answers[shown - 1] if 0 < shown <= len(answers) else None)
        if source is None:
            return gr.skip(), gr.skip()
        return render.highlighted_passage(source), gr.update(value=None, visible=False)

    p.source_picker.input(show_source, [p.source_picker, p.shown, p.answers], [p.evidence, p.document_view],
                          api_visibility="private")

    def show_marked(target: str, answers: list):
        picked = handlers.marker_target(target)
        if picked is None or not 0 < picked[0] <= len(answers) or not 0 < picked[1] <= len(answers[picked[0] - 1]):
            return (gr.skip(),) * 4
        number, n = picked
        sources = answers[number - 1]
        source = sources[n - 1]
        labels = render.source_labels(sources)
        return (number, _picker(labels, number, labels[n - 1]), render.highlighted_passage(source),
                _document_update(pipeline, source))

    p.source_target.change(show_marked, [p.source_target, p.answers],
                          [p.shown, p.source_picker, p.evidence, p.document_view], api_visibility="private"
                          ).then(None, js=_SCROLL_TO_SPAN)

    def show_document(label: str | None, shown: int, answers: list):
        source = handlers.picked_source(label, answers[shown - 1] if 0 < shown <= len(answers) else None)
        return _document_update(pipeline, source)

    p.open_document.click(
        show_document, [p.source_picker, p.shown, p.answers], [p.document_view], api_visibility="private"
    ).then(None, js=_SCROLL_TO_SPAN)

    p.uploads.upload(lambda files: handlers.add_files(pipeline, files), [p.uploads], [p.upload_status],
                     concurrency_id=_PIPELINE_QUEUE, api_visibility="private")

    def ask(question: str, top_k: int = config.top_k, retrieval: str = config.retrieval,
            min_confidence: float = config.min_confidence) -> dict:
        """Answer a question from the documents; the same object as `rag ask --json`."""
        try:
            return pipeline.ask(question, int(top_k), retrieval=retrieval, min_confidence=float(min_confidence)).to_json()
        except RagError as err:
            raise gr.Error(str(err)) from None

    gr.api(ask, api_name="ask", concurrency_id=_PIPELINE_QUEUE)


def _picker(labels: list[str], number: int, value: str | None) -> dict[str, Any]:
    label = f"Sources of answer {number}" if number else "Sources (ask a question first)"
    return gr.update(choices=labels, value=value, label=label)


def _open_button(enabled: bool) -> dict[str, Any]:
    return gr.update(interactive=enabled, value=_OPEN_DOCUMENT if enabled else _OPEN_DOCUMENT_DISABLED)


def _document_update(pipeline: Pipeline, source: Source | None) -> dict[str, Any]:
    pieces = handlers.document_with_span(pipeline, source)
    assert source is not None  # document_with_span refused None
    return gr.update(value=pieces, visible=True, label=f"Document: {source.name} ({source.doc_id})")


@dataclass(frozen=True, slots=True)
class _Page:
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
    upload_status: Any
    passages: Any


def _build_page(config: Config) -> _Page:
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
                    label="Passage (the answer is highlighted)",
                    color_map={"answer": "yellow"},
                    show_legend=False,
                    show_inline_category=False,
                    combine_adjacent=False,
                    elem_id="evidence",
                )
                open_document = gr.Button(_OPEN_DOCUMENT_DISABLED, interactive=False, elem_id="open-document")
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
    with gr.Accordion("Why these passages?", open=False, elem_id="why-passages"):
        gr.Markdown(render.PASSAGES_EXPLAINED)
        passages = gr.Dataframe(
            headers=render.PASSAGE_HEADERS,
            datatype=["number", "str", "number", "number", "str"],
            label="Retrieved passages for the last question",
            interactive=False,
            wrap=True,
            max_height=420,
            elem_id="passages",
        )
    return _Page(answers=answers, shown=shown, pending=pending, turns=turns, chat=chat, question=question, send=send,
                 source_target=source_target, source_picker=source_picker, evidence=evidence,
                 open_document=open_document, document_view=document_view, top_k=top_k, retrieval=retrieval,
                 threshold=threshold, uploads=uploads, upload_status=upload_status, passages=passages)


def launch_options(pipeline: Pipeline) -> dict[str, Any]:
    """Options for ``app.launch`` that keep the page self-contained and uploads within limits."""
    return {
        "css": _CSS,
        "js": _PAGE_JS,
        "max_file_size": pipeline.config.max_upload_bytes,
        "show_error": True,
        "footer_links": ["api"],
    }

