"""The `rag` command's flags and logging; rag/cli.py runs what they ask for."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from rag import __version__
from rag.config import RETRIEVAL_MODES, STORES, Config
from rag.text import inert

log = logging.getLogger("rag")
_DEFAULTS = Config()


def configure_logging(level: int) -> None:
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
    handler.setFormatter(_InertFormatter("rag: %(message)s"))
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
    index.add_argument("--rehash", action="store_true",
                       help="read every file again, not only those whose size or modification time changed")
    index.set_defaults(command_name="index")

    ask = commands.add_parser("ask", help="answer a question from the documents, with citations")
    ask.add_argument("question")
    _add_common(ask)
    _add_answering(ask)
    ask.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ask.set_defaults(command_name="ask")

    evaluate = commands.add_parser("eval", help="score answers against gold questions (JSON Lines)")
    evaluate.add_argument("--gold", type=Path, help="gold questions, one JSON object a line (required unless --compare)")
    evaluate.add_argument("--split", choices=("dev", "test"), help="only the questions of this split")
    evaluate.add_argument("--out", type=Path, help="write a Markdown report, plots and results.json into this folder")
    evaluate.add_argument("--ablations", action="store_true", help="also score every retrieval mode x top-k (1, 3, 5, 10)")
    evaluate.add_argument("--tune", action="store_true",
                          help="sweep the abstention threshold on the dev split and write the best into the config file "
                               "(to tune every setting on two corpora: python -m rag.eval.bench.tune)")
    evaluate.add_argument("--floors", type=Path, help="JSON floors; exit 1 when a score is below its floor")
    evaluate.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"),
                          help="compare two saved --json runs (or --out folders) instead of running")
    _add_common(evaluate)
    _add_answering(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    evaluate.set_defaults(command_name="eval")

    search = commands.add_parser("search", help="the passages retrieved for a question, with their scores (no reader)")
    search.add_argument("question")
    _add_common(search)
    search.add_argument("--top-k", type=int, help=f"passages to show (default {_DEFAULTS.top_k})")
    search.add_argument("--retrieval", choices=RETRIEVAL_MODES, help=f"retrieval mode (default {_DEFAULTS.retrieval})")
    search.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    search.set_defaults(command_name="search")

    status = commands.add_parser("status", help="the index: model, documents, passages, when built, whether the corpus changed")
    _add_common(status)
    status.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    status.set_defaults(command_name="status")

    show = commands.add_parser("show", help="a document's text, or a span of it with context (to check a citation)")
    show.add_argument("doc_id", help="the document id, as citations print it")
    _add_common(show)
    show.add_argument("--start", type=int, help="start of a span (characters)")
    show.add_argument("--end", type=int, help="end of a span (characters)")
    show.add_argument("--context", type=int, default=300, help="characters shown on each side of the span (default 300)")
    show.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    show.set_defaults(command_name="show")

    serve = commands.add_parser("serve", help="start the web chat (http://127.0.0.1:7860 by default)")
    _add_common(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, help="port (default 7860, or the next free one)")
    serve.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    serve.set_defaults(command_name="serve")
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
    sub.add_argument("--top-k", type=int, help=f"passages the reader reads (default {_DEFAULTS.top_k})")
    sub.add_argument("--retrieval", choices=RETRIEVAL_MODES, help=f"retrieval mode (default {_DEFAULTS.retrieval})")
    sub.add_argument("--min-confidence", type=float, help=f"abstain below this confidence, in [0, 1] (default {_DEFAULTS.min_confidence})")


class _InertFormatter(logging.Formatter):
    """rag's log lines name files and quote parsers' errors, which can hold a document's bytes:
    no control character of them reaches the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return inert(super().format(record), keep_lines=True)
