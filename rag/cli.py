"""The `rag` command: a thin shell over the Python API. Progress on stderr, results on stdout."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from rag.cli_args import build_parser, configure_logging
from rag.config import Config, load_config
from rag.errors import ConfigError, RagError
from rag.pipeline import Pipeline
from rag.store import UpdateReport
from rag.terminal import render_answer
from rag.text import inert, inert_json, page_of, printable, snippet

log = logging.getLogger("rag")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("question", "doc_id"):  # bytes that were not UTF-8 reach Python as lone surrogates
        if isinstance(getattr(args, name, None), str):
            setattr(args, name, getattr(args, name).encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    configure_logging(args.log_level)
    try:
        return int(_HANDLERS[args.command_name](args))
    except RagError as err:
        print(f"rag: {err}", file=sys.stderr)
        return 2  # user errors exit 2 with one line; anything else is a bug and keeps its traceback
    except KeyboardInterrupt:
        print("rag: interrupted", file=sys.stderr)
        return 130


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
    """A pipeline with its index loaded as the Python API loads it: updated first when ``auto_update``
    is on (from the current build, with a warning, while `rag index` runs), never written when off."""
    pipeline = Pipeline(_config(args))
    report = pipeline.index(rebuild=True) if args.rebuild else pipeline.open()
    if report is not None:
        _report(pipeline, report)
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
    report = pipeline.index(rebuild=args.rebuild, rehash=args.rehash)
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
        print(f"[{rank}] {printable(hit.chunk.doc_id)} [{hit.chunk.start}:{hit.chunk.end}]  score {hit.score:.4f}  "
              f"cosine {hit.dense_score:.3f}  BM25 {hit.bm25_score:.2f}")
        print(f"    {inert(snippet(hit.chunk.text, width=160))}")
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
    if args.context < 0:
        raise ConfigError(f"--context must be 0 or more characters, not {args.context}")
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
    # The document's own text is shown as it reads, lines and all, but inert: no control character of
    # it reaches the terminal (docs/reliability.md).
    header = [printable(document.doc_id)] + [printable(v) for v in (document.title, document.date) if v]
    print(" · ".join(header))
    if spanned:
        page = page_of(document.page_starts, start)
        print(f"[{start}:{end}]" + (f" page {page}" if page else ""))
        print(inert(f"…{before}«{text[start:end]}»{after}…", keep_lines=True))
    else:
        print(inert(text, keep_lines=True))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from rag.ui.server import serve

    config = _config(args)
    if args.rebuild:
        Pipeline(config).index(rebuild=True)
    serve(config, host=args.host, port=args.port, open_browser=not args.no_browser)
    return 0


def _print_json(data: dict[str, Any]) -> None:
    print(inert_json(data))


_HANDLERS = {"index": _index, "ask": _ask, "eval": _eval, "search": _search, "status": _status, "show": _show, "serve": _serve}
