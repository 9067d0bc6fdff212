"""Turn a SQuAD file into a corpus folder (one .txt per article) and a gold file for `rag eval`.

    python -m rag.eval.bench.squad_corpus --data ../shared/data/squad/dev-v1.1.json --out /tmp/squad [--limit N] [--overwrite]
    rag index --corpus /tmp/squad/corpus --index /tmp/squad/index
    rag eval --gold /tmp/squad/gold.jsonl --corpus /tmp/squad/corpus --index /tmp/squad/index

Why: the seeds and their gold questions were written here, by the people who tune rag, so scores
on them flatter it. SQuAD's articles and questions were written by others; as a corpus folder they
measure the whole pipeline (retrieval over every article of the file, reading, citations, and on
v2.0 abstention) on text no one here chose. `rag.eval.bench.squad` measures the reader alone instead.

Each article becomes NNN_<slug>.txt: its title, a blank line, then its paragraphs joined by blank
lines, copied character for character, so every SQuAD answer offset still points at its answer
in the file (checked on every build).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.atomic import write_atomic
from rag.errors import RagError
from rag.training.squad import load_squad

# Only names this module writes; --overwrite removes stale ones and never touches other files.
_ARTICLE_FILE = re.compile(r"\d{3,}_[a-z0-9_]+\.txt")


class SquadCorpusError(RagError):
    """The SQuAD file is unusable, the output is in the way, or an answer offset did not hold."""


@dataclass(frozen=True, slots=True)
class SquadCorpus:
    folder: Path  # one .txt per article of the file
    gold: Path  # JSON Lines: id, question, answers, doc_ids, kind, article
    articles: int
    questions: int
    unanswerable: int


@dataclass(frozen=True, slots=True)
class _Article:
    name: str  # file name, which is also rag's doc_id for it
    title: str
    text: str
    starts: tuple[int, ...]  # where each paragraph begins in text


def build_squad_corpus(squad_json: Path, out_dir: Path, limit: int | None = None, overwrite: bool = False) -> SquadCorpus:
    """Write ``out_dir/corpus`` (one file per article) and ``out_dir/gold.jsonl`` from a SQuAD file.

    Args:
        limit: Keep the first N questions. The corpus still holds every article of the file, so
            retrieval searches as many documents as it would for the full file.
        overwrite: Replace the files of an earlier run and remove its stale article files; any
            other file in the folder is left alone.

    Raises:
        SquadCorpusError: The file is missing or not SQuAD JSON, the output already exists and
            ``overwrite`` is False, or an answer offset does not point at its answer in the file.
    """
    if limit is not None and limit < 1:
        raise SquadCorpusError(f"limit must be at least 1, got {limit}")
    squad_json, out_dir = Path(squad_json), Path(out_dir)
    articles = _read_articles(squad_json)
    try:
        examples = load_squad(squad_json, limit)
    except (KeyError, TypeError, IndexError) as err:
        raise SquadCorpusError(f"{squad_json} is not SQuAD JSON: a question is malformed ({err!r})") from None
    folder, gold = out_dir / "corpus", out_dir / "gold.jsonl"
    if not overwrite and ((folder.is_dir() and any(folder.iterdir())) or gold.exists()):
        raise SquadCorpusError(f"{out_dir} already holds a corpus or gold file; pass --overwrite to replace them")
    folder.mkdir(parents=True, exist_ok=True)
    names = {a.name for a in articles}
    for path in folder.iterdir():
        if _ARTICLE_FILE.fullmatch(path.name) and path.name not in names and path.is_file():
            path.unlink()
    for article in articles:
        _write(folder / article.name, article.text)
    # Check offsets on the text as read back, the way rag's corpus loader reads it (text mode).
    written = {a.name: (folder / a.name).read_text(encoding="utf-8") for a in articles}
    records: list[dict[str, Any]] = []
    mismatches: list[str] = []
    for e in examples:
        article = articles[e.article]
        if e.answers:
            start = article.starts[e.paragraph] + e.answer_start
            if written[article.name][start : start + len(e.answers[0])] != e.answers[0]:
                mismatches.append(e.qid)
        records.append({
            "id": e.qid,
            "question": e.question,
            "answers": list(dict.fromkeys(e.answers)),
            "doc_ids": [article.name] if e.answers else [],
            "kind": "answerable" if e.answers else "unanswerable",
            "article": article.title,
        })
    if mismatches:
        raise SquadCorpusError(f"{len(mismatches)} answer offsets miss their answer in {folder} (first: {mismatches[0]})")
    _write(gold, "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records))
    unanswerable = sum(r["kind"] == "unanswerable" for r in records)
    return SquadCorpus(folder, gold, len(articles), len(records), unanswerable)


def _read_articles(path: Path) -> list[_Article]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        raw = [(a["title"], [p["context"] for p in a["paragraphs"]]) for a in data]
    except FileNotFoundError:
        raise SquadCorpusError(f"no such file: {path}") from None
    except OSError as err:
        raise SquadCorpusError(f"cannot read {path}: {err.strerror or err}") from None
    except (ValueError, KeyError, TypeError) as err:  # ValueError: not UTF-8 or not JSON
        raise SquadCorpusError(f"{path} is not SQuAD JSON ({type(err).__name__}: {err})") from None
    if not raw or not all(isinstance(t, str) and all(isinstance(p, str) for p in ps) for t, ps in raw):
        raise SquadCorpusError(f"{path} is not SQuAD JSON: expected articles with a title and text paragraphs")
    width = max(3, len(str(len(raw) - 1)))
    articles = []
    for index, (title, paragraphs) in enumerate(raw):
        head = f"{title}\n\n"
        starts = [len(head)]
        for paragraph in paragraphs[:-1]:
            starts.append(starts[-1] + len(paragraph) + 2)
        name = f"{index:0{width}d}_{_slug(title)}.txt"
        articles.append(_Article(name, title, head + "\n\n".join(paragraphs), tuple(starts)))
    return articles


def _slug(title: str) -> str:
    # ASCII only, so a name means the same file on every file system and needs no quoting.
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")[:60].rstrip("_") or "article"


def _write(path: Path, text: str) -> None:
    write_atomic(path, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.eval.bench.squad_corpus", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a SQuAD JSON file (v1.1 or v2.0)")
    parser.add_argument("--out", type=Path, required=True, help="folder to hold corpus/ and gold.jsonl")
    parser.add_argument("--limit", type=int, help="keep the first N questions (the corpus keeps every article)")
    parser.add_argument("--overwrite", action="store_true", help="replace the corpus and gold file of an earlier run")
    args = parser.parse_args(argv)
    try:
        built = build_squad_corpus(args.data, args.out, args.limit, args.overwrite)
    except SquadCorpusError as err:
        print(f"squad_corpus: {err}", file=sys.stderr)
        return 2
    corpus, gold = shlex.quote(str(built.folder)), shlex.quote(str(built.gold))
    index, report = shlex.quote(str(args.out / "index")), shlex.quote(str(args.out / "report"))
    print(f"{built.articles} articles, {built.questions} questions ({built.unanswerable} unanswerable): "
          f"corpus {built.folder}, gold {built.gold}")
    print("next:")
    print(f"  rag index --corpus {corpus} --index {index}")
    print(f"  rag eval --gold {gold} --corpus {corpus} --index {index} --out {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
