"""The `rag` command: a thin shell over the Python API. Progress on stderr, results on stdout."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from rag import __version__
from rag.config import RETRIEVAL_MODES, STORES, Config, load_config
from rag.errors import ConfigError, RagError
from rag.pipeline import Pipeline
from rag.store import UpdateReport
from rag.terminal import render_answer
from rag.text import page_of, snippet

log = logging.getLogger("rag")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.log_level)
    try:
        return int(args.handler(args))
    except RagError as err:
        print(f"rag: {err}", file=sys.stderr)
        return 2  # user errors exit 2 with one line; anything else is a bug and keeps its traceback
    except KeyboardInterrupt:
        print("rag: interrupted", file=sys.stderr)
        return 130


def _configure_logging(level: int) -> None:
    """rag's own lines at the chosen level; other libraries' only from WARNING up.

    Some libraries set their loggers to INFO themselves (bm25s: "Building index from tokens"),
    so the root handler, not only the root level, filters them.
    """
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)
    # Replace the handler on every call: main() may run many times in one process (tests),
    # each time with the sys.stderr of that moment.
    for old in [h for h in log.handlers if getattr(h, "_rag_cli", False)]:
        log.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("rag: %(message)s"))
    handler._rag_cli = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(level)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Cited answers from a folder of documents, offline.")
    parser.add_argument("--version", action="version", version=f"rag {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index = commands.add_parser("index", help="build or update the index of a corpus folder")
    _add_common(index)
    index.add_argument("--json", action="store_true", help="print what changed as one JSON object")
    index.set_defaults(handler=_index)

    ask = commands.add_parser("ask", help="answer a question from the documents, with citations")
    ask.add_argument("question")
    _add_common(ask)
    _add_answering(ask)
    ask.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ask.set_defaults(handler=_ask)

    evaluate = commands.add_parser("eval", help="score answers against gold questions (JSON Lines)")
    evaluate.add_argument("--gold", type=Path, help="gold questions, one JSON object a line (required unless --compare)")
    evaluate.add_argument("--split", choices=("dev", "test"), help="only the questions of this split")
    evaluate.add_argument("--out", type=Path, help="write a Markdown report, plots and results.json into this folder")
    evaluate.add_argument("--ablations", action="store_true", help="also score every retrieval mode x top-k (1, 3, 5, 10)")
    evaluate.add_argument("--tune", action="store_true",
                          help="sweep the abstention threshold on the dev split and write the best into the config file "
                               "(to tune every setting on two corpora: python -m rag.eval.tune)")
    evaluate.add_argument("--floors", type=Path, help="JSON floors; exit 1 when a score is below its floor")
    evaluate.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"),
                          help="compare two saved --json runs (or --out folders) instead of running")
    _add_common(evaluate)
    _add_answering(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    evaluate.set_defaults(handler=_eval)

    search = commands.add_parser("search", help="the passages retrieved for a question, with their scores (no reader)")
    search.add_argument("question")
    _add_common(search)
    search.add_argument("--top-k", type=int, help="passages to show (default 5)")
    search.add_argument("--retrieval", choices=RETRIEVAL_MODES, help="retrieval mode (default hybrid)")
    search.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    search.set_defaults(handler=_search)

    status = commands.add_parser("status", help="the index: model, documents, passages, when built, whether the corpus changed")
    _add_common(status)
    status.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    status.set_defaults(handler=_status)

    show = commands.add_parser("show", help="a document's text, or a span of it with context (to check a citation)")
    show.add_argument("doc_id", help="the document id, as citations print it")
    _add_common(show)
    show.add_argument("--start", type=int, help="start of a span (characters)")
    show.add_argument("--end", type=int, help="end of a span (characters)")
    show.add_argument("--context", type=int, default=300, help="characters shown on each side of the span (default 300)")
    show.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    show.set_defaults(handler=_show)

    serve = commands.add_parser("serve", help="start the web chat (http://127.0.0.1:7860 by default)")
    _add_common(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, help="port (default 7860, or the next free one)")
    serve.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    serve.set_defaults(handler=_serve)
    return parser


def _add_common(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--corpus", type=Path, help="folder of .txt/.md documents (default: ./seeds)")
    sub.add_argument("--index", type=Path, help="index folder (default: ./.rag-index)")
    sub.add_argument("--config", type=Path, help="TOML settings file (default: ./rag.toml if present)")
    sub.add_argument("--rebuild", action="store_true", help="rebuild the index from scratch first")
    sub.add_argument("--store", choices=STORES, help="where passages live: faiss (files in --index, default) or milvus")
    sub.add_argument("--store-uri", help="Milvus: a Milvus Lite file (ends in .db; default INDEX/milvus.db) "
                     "or a server, http://host:19530")
    sub.add_argument("-v", "--verbose", dest="log_level", action="store_const", const=logging.DEBUG, help="log more")
    sub.add_argument("-q", "--quiet", dest="log_level", action="store_const", const=logging.WARNING, help="log only warnings")
    sub.set_defaults(log_level=logging.INFO)


def _add_answering(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--top-k", type=int, help="passages the reader reads (default 5)")
    sub.add_argument("--retrieval", choices=RETRIEVAL_MODES, help="retrieval mode (default hybrid)")
    sub.add_argument("--min-confidence", type=float, help="abstain below this confidence, in [0, 1]")


def _config(args: argparse.Namespace) -> Config:
    return load_config(
        args.config,
        corpus_dir=args.corpus,
        index_dir=args.index,
        store=args.store or ("milvus" if args.store_uri else None),  # a URI means Milvus
        store_uri=args.store_uri,
        top_k=getattr(args, "top_k", None),
        retrieval=getattr(args, "retrieval", None),
        min_confidence=getattr(args, "min_confidence", None),
    )


def _pipeline(args: argparse.Namespace) -> Pipeline:
    pipeline = Pipeline(_config(args))
    _report(pipeline, pipeline.index(rebuild=args.rebuild))
    return pipeline


def _report(pipeline: Pipeline, report: UpdateReport) -> None:
    if report.wrote_index:
        log.info(
            "indexed %s: %d added, %d changed, %d deleted, %d unchanged (%d passages embedded, %.1fs)",
            pipeline.config.corpus_dir, len(report.added), len(report.changed), len(report.deleted),
            report.unchanged, report.passages_embedded, report.seconds,
        )
    else:
        log.info("index of %s is up to date (%d documents)", pipeline.config.corpus_dir, report.unchanged)


def _index(args: argparse.Namespace) -> int:
    pipeline = Pipeline(_config(args))
    report = pipeline.index(rebuild=args.rebuild)
    _report(pipeline, report)
    if args.json:
        _print_json(
            {
                "corpus": str(pipeline.config.corpus_dir),
                "index": str(pipeline.config.index_dir),
                "added": list(report.added),
                "changed": list(report.changed),
                "deleted": list(report.deleted),
                "unchanged": report.unchanged,
                "passages_embedded": report.passages_embedded,
                "seconds": round(report.seconds, 3),
            }
        )
    return 0


def _ask(args: argparse.Namespace) -> int:
    pipeline = _pipeline(args)
    answer = pipeline.ask(args.question)
    if args.json:
        _print_json(answer.to_json())
    else:
        print(render_answer(answer))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from rag.eval.command import run_eval_command

    return run_eval_command(args, lambda: _pipeline(args))


def _search(args: argparse.Namespace) -> int:
    pipeline = _pipeline(args)
    hits = pipeline.search(args.question, args.top_k, args.retrieval)
    if args.json:
        _print_json({"question": args.question, "retrieval": args.retrieval or pipeline.config.retrieval,
                     "passages": [{**h.to_json(), **_info_json(pipeline, h.chunk.doc_id)} for h in hits]})
        return 0
    for rank, hit in enumerate(hits, start=1):
        print(f"[{rank}] {hit.chunk.doc_id} [{hit.chunk.start}:{hit.chunk.end}]  score {hit.score:.4f}  "
              f"cosine {hit.dense_score:.3f}  BM25 {hit.bm25_score:.2f}")
        print(f"    {snippet(hit.chunk.text, width=160)}")
    return 0


def _info_json(pipeline: Pipeline, doc_id: str) -> dict[str, Any]:
    info = pipeline.document_info(doc_id)
    return {"title": info.title or None, "date": info.date}


def _status(args: argparse.Namespace) -> int:
    pipeline = Pipeline(_config(args))
    status = pipeline.status()
    if args.json:
        _print_json({"corpus": str(pipeline.config.corpus_dir), **status.to_json()})
        return 0
    print(f"corpus     {pipeline.config.corpus_dir}")
    print(f"index      {status.index_dir}" + ("" if status.built else " (not built yet: rag index builds it)"))
    if status.built:
        print(f"embedder   {status.embed_model}")
        if status.store == "milvus":
            print(f"store      Milvus, {pipeline.config.milvus_uri} (collection {pipeline.config.milvus_collection})")
        print(f"documents  {status.documents} ({status.passages} passages), built {status.built_at}")
        if status.up_to_date:
            print("corpus     unchanged since the build")
        else:
            changes = [f"{len(v)} {k}" for k, v in (("added", status.added), ("changed", status.changed),
                                                    ("deleted", status.deleted)) if v]
            print(f"corpus     changed since the build: {', '.join(changes)} (rag index updates it)")
    return 0


def _show(args: argparse.Namespace) -> int:
    pipeline = Pipeline(_config(args))
    document = pipeline.document(args.doc_id)
    text = document.text
    start = 0 if args.start is None else args.start
    end = len(text) if args.end is None else args.end
    if not 0 <= start <= end <= len(text):
        raise ConfigError(f"--start/--end must satisfy 0 <= start <= end <= {len(text)} (the document's length)")
    spanned = args.start is not None or args.end is not None
    before = text[max(0, start - args.context):start] if spanned else ""
    after = text[end:end + args.context] if spanned else ""
    if args.json:
        _print_json({"doc_id": document.doc_id, "title": document.title or None, "date": document.date,
                     "length": len(text), "start": start, "end": end, "text": text[start:end],
                     "before": before, "after": after,
                     "page": page_of(document.page_starts, start)})
        return 0
    header = [document.doc_id] + [v for v in (document.title, document.date) if v]
    print(" · ".join(header))
    if spanned:
        page = page_of(document.page_starts, start)
        print(f"[{start}:{end}]" + (f" page {page}" if page else ""))
        print(f"…{before}«{text[start:end]}»{after}…")
    else:
        print(text)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from rag.ui.server import serve

    config = _config(args)
    if args.rebuild:
        Pipeline(config).index(rebuild=True)
    serve(config, host=args.host, port=args.port, open_browser=not args.no_browser)
    return 0


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, ensure_ascii=False, sort_keys=True))
