"""The Gradio web chat: a thin layer over ``rag.Pipeline`` (ask, document, add_document, search)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from rag.config import retrieval_mode
from rag.errors import RagError
from rag.pipeline import Pipeline
from rag.watch import CorpusWatcher

from . import assets, handlers, layout, render
from .sources import Source

# Questions run one at a time, in arrival order, each with its own answer. Uploads and removals
# run one at a time in a queue of their own: extracting and embedding a large upload takes seconds
# and must delay only its uploader, not everyone's questions. Indexing publishes a new build that
# the next question reads; a question being answered keeps the build it started with.
_PIPELINE_QUEUE = "pipeline"
_UPLOADS_QUEUE = "uploads"

_OPEN_DOCUMENT = "Open the whole document"
_OPEN_DOCUMENT_DISABLED = "Open the whole document (ask a question first)"


def build_app(pipeline: Pipeline, watcher: CorpusWatcher | None = None) -> gr.Blocks:
    """The chat app over one pipeline; launch it with ``launch_options(pipeline)``. With a
    ``watcher``, each update of the index it makes is announced once, with the next answer."""
    config = pipeline.config
    with gr.Blocks(title="rag — cited answers from your documents", analytics_enabled=False) as app:
        page = layout.build_page(config, _OPEN_DOCUMENT_DISABLED)
        _wire(app, page, pipeline, watcher)
    return app


def _wire(app: gr.Blocks, page: layout.Page, pipeline: Pipeline, watcher: CorpusWatcher | None = None) -> None:
    """Connect the page's events to the handlers (ui/handlers.py) and expose the /ask API."""
    config = pipeline.config
    p = page
    ask_inputs = [p.pending, p.chat, p.top_k, p.retrieval, p.threshold, p.turns, p.answers]
    ask_outputs = [p.chat, p.passages, p.answers, p.shown, p.source_picker, p.evidence, p.document_view, p.turns,
                   p.open_document]

    def echo(text: str, history: list[dict[str, Any]]):
        echoed = handlers.echo_question(text, history)
        if echoed.refused:
            return echoed.history, "", ""
        if not echoed.pending:
            gr.Warning("Type a question first.")
            return gr.skip(), gr.skip(), ""
        return echoed.history, "", echoed.pending

    def ask_in_chat(text: str, history: list[dict[str, Any]], k: float, mode: str, min_conf: float, past: list,
                    answers: list):
        if not text:
            return tuple(gr.skip() for _ in ask_outputs)
        number = len(answers) + 1
        turn = handlers.respond(pipeline, text, history, int(k), mode, float(min_conf), past, number)
        notice = watcher.take_notice() if watcher else None
        if notice:
            gr.Info(notice)
        if turn.answer is None:  # refused: the chat says why; the panels keep the last answer's sources
            return (turn.history, gr.skip(), [*answers, []], gr.skip(), gr.skip(), gr.skip(), gr.skip(), turn.turns,
                    gr.skip())
        labels = turn.source_labels
        first = turn.sources[0] if turn.sources else None
        return (turn.history, turn.passage_rows, [*answers, turn.sources], number,
                _picker(labels, number, labels[0] if labels else None), _evidence(first),
                gr.update(value=None, visible=False), turn.turns, _open_button(bool(labels)))

    def asked(trigger: Any) -> None:
        trigger(echo, [p.question, p.chat], [p.chat, p.question, p.pending], show_progress="hidden",
                api_visibility="private").then(
            ask_in_chat, ask_inputs, ask_outputs, concurrency_id=_PIPELINE_QUEUE, show_progress="minimal",
            show_progress_on=[p.chat], api_visibility="private",
        ).then(None, js=assets.SCROLL_TO_ANSWER)

    asked(p.question.submit)
    asked(p.send.click)

    def pick_example(selected: gr.SelectData) -> str:
        return selected.value["text"]

    # An example in the empty chat is asked at once; the ones under the box only fill it in.
    asked(lambda *args, **kwargs: p.chat.example_select(pick_example, None, p.question, api_visibility="private")
          .then(*args, **kwargs))

    def clear():
        return ([], [], 0, _picker([], 0, None), _evidence(None), gr.update(value=None, visible=False), None, [],
                _open_button(False), "", "")

    p.chat.clear(clear, None, [p.turns, p.answers, p.shown, p.source_picker, p.evidence, p.document_view,
                               p.passages, p.chat, p.open_document, p.pending, p.question], api_visibility="private")

    def show_source(label: str | None, shown: int, answers: list):
        source = handlers.picked_source(label, answers[shown - 1] if 0 < shown <= len(answers) else None)
        if source is None:
            return gr.skip(), gr.skip(), gr.skip()
        return _evidence(source), gr.update(value=None, visible=False), _open_button(True)

    p.source_picker.input(show_source, [p.source_picker, p.shown, p.answers],
                          [p.evidence, p.document_view, p.open_document], api_visibility="private")

    def show_marked(target: str, answers: list):
        picked = handlers.marker_target(target)
        if picked is None or not 0 < picked[0] <= len(answers) or not 0 < picked[1] <= len(answers[picked[0] - 1]):
            return (gr.skip(),) * 5
        number, n = picked
        sources = answers[number - 1]
        source = sources[n - 1]
        labels = render.source_labels(sources)
        return (number, _picker(labels, number, labels[n - 1]), _evidence(source),
                _document_update(pipeline, source), _open_button(True))

    p.source_target.change(show_marked, [p.source_target, p.answers],
                          [p.shown, p.source_picker, p.evidence, p.document_view, p.open_document],
                          api_visibility="private").then(None, js=assets.SCROLL_TO_SOURCE)

    def show_document(label: str | None, shown: int, answers: list):
        source = handlers.picked_source(label, answers[shown - 1] if 0 < shown <= len(answers) else None)
        return _document_update(pipeline, source)

    p.open_document.click(
        show_document, [p.source_picker, p.shown, p.answers], [p.document_view], api_visibility="private"
    ).then(None, js=assets.SCROLL_TO_SPAN)

    def upload(files: list[Any] | None, replace: bool):
        status = handlers.add_files(pipeline, files, replace)
        return status, _uploaded_list(pipeline), None

    # Unprocessed, the upload event gives the names the browser sent (Gradio would clean them up).
    p.uploads.upload(upload, [p.uploads, p.replace_uploads], [p.upload_status, p.uploaded, p.uploads],
                     concurrency_id=_UPLOADS_QUEUE, api_visibility="private", preprocess=False)

    def remove(doc_ids: list[str] | None):
        return handlers.remove_uploads(pipeline, doc_ids), _uploaded_list(pipeline)

    p.remove_uploads.click(remove, [p.uploaded], [p.upload_status, p.uploaded], concurrency_id=_UPLOADS_QUEUE,
                           api_visibility="private")
    app.load(lambda: _uploaded_list(pipeline), None, [p.uploaded], api_visibility="private")

    def ask(question: str, top_k: int = config.top_k, retrieval: str = config.retrieval,
            min_confidence: float = config.min_confidence) -> dict:
        """Answer a question from the documents; the same object as `rag ask --json`."""
        try:
            return pipeline.ask(question, int(top_k), retrieval=retrieval_mode(retrieval),
                                min_confidence=float(min_confidence)).to_json()
        except RagError as err:
            raise gr.Error(str(err)) from None

    gr.api(ask, api_name="ask", concurrency_id=_PIPELINE_QUEUE)


def _uploaded_list(pipeline: Pipeline) -> dict[str, Any]:
    names = pipeline.uploads()
    label = f"Uploaded documents ({len(names)})" if names else "Uploaded documents (none yet)"
    return gr.update(choices=names, value=[], label=label)


def _picker(labels: list[str], number: int, value: str | None) -> dict[str, Any]:
    label = f"Sources of answer {number}" if number else "Sources (ask a question first)"
    return gr.update(choices=labels, value=value, label=label)


def _evidence(source: Source | None) -> dict[str, Any]:
    """The evidence panel for a source (or emptied), titled by what it highlights."""
    return gr.update(value=render.highlighted_passage(source) if source else None, label=render.evidence_label(source))


def _open_button(enabled: bool) -> dict[str, Any]:
    return gr.update(interactive=enabled, value=_OPEN_DOCUMENT if enabled else _OPEN_DOCUMENT_DISABLED)


def _document_update(pipeline: Pipeline, source: Source | None) -> dict[str, Any]:
    pieces = handlers.document_with_span(pipeline, source)
    assert source is not None  # document_with_span refused None
    return gr.update(value=pieces, visible=True, label=f"Document: {source.name} ({source.doc_id})")


def launch_options(pipeline: Pipeline) -> dict[str, Any]:
    """Options for ``app.launch`` that keep the page self-contained and uploads within limits."""
    return {
        "css": assets.CSS,
        "js": assets.PAGE_JS,
        "max_file_size": pipeline.config.max_upload_bytes,
        "show_error": True,
        "footer_links": ["api"],
    }

