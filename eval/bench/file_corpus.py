"""A generated folder of many documents for the scale benchmark (eval/bench/files.py): SQuAD train
paragraphs written as .txt, .md, .html, .pdf and .docx files of 1 KB to 1 MB, with questions whose
answers are in them.

    python -m rag.eval.bench.file_corpus --squad ../shared/data/squad/train-v1.1.json --files 10000 --out /tmp/files

File i is the same in every corpus made from the same data, so the first 1,000 files of a 10,000-file
corpus are the 1,000-file corpus. Sizes: 85.5 % 1-4 KB, 14 % 4-32 KB, 0.5 % 32 KB-1 MB (log-uniform
in each band): most files of a real folder are small, and the embedding time of a corpus is its
total size (~170 passages/s on 2 cores), so a mean near 5 KB keeps the 10,000-file build near 20 min.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

_KINDS = (".txt", ".md", ".html", ".pdf", ".docx")
_BANDS = ((0.855, 1_000, 4_000), (0.14, 4_000, 32_000), (0.005, 32_000, 1_000_000))


@dataclass(frozen=True, slots=True)
class Paragraph:
    title: str
    text: str
    questions: tuple[tuple[str, tuple[str, ...]], ...]  # (question, answers)


def paragraphs(squad: Path) -> list[Paragraph]:
    data = json.loads(Path(squad).read_text(encoding="utf-8"))["data"]
    return [
        Paragraph(article["title"].replace("_", " "), p["context"],
                  tuple((q["question"], tuple(a["text"] for a in q["answers"])) for q in p["qas"] if q["answers"]))
        for article in data for p in article["paragraphs"]
    ]


def file_size(i: int) -> int:
    draw = random.Random(i)
    u, cumulative = draw.random(), 0.0
    for share, low, high in _BANDS:
        cumulative += share
        if u <= cumulative:
            return int(math.exp(draw.uniform(math.log(low), math.log(high))))
    return _BANDS[-1][2]


def make_corpus(squad: Path, files: int, out: Path) -> list[dict]:
    """Write ``files`` documents into ``out``; returns the questions of the paragraphs written into
    .txt files (answers certain to be extractable), each with its file."""
    pool = paragraphs(squad)
    out.mkdir(parents=True, exist_ok=True)
    questions, cursor = [], 0
    for i in range(files):
        size, chosen = file_size(i), list[Paragraph]()
        while sum(len(p.text) + 2 for p in chosen) < size:
            chosen.append(pool[cursor % len(pool)])
            cursor += 1
        kind = _KINDS[i % len(_KINDS)]
        name = f"{i // 1000:02d}/doc{i:05d}{kind}"
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_render(kind, chosen[0].title, [p.text for p in chosen]))
        if kind == ".txt":
            questions += [{"doc_id": name, "question": q, "answers": list(a)} for p in chosen[:1] for q, a in p.questions[:1]]
    return questions


def _render(kind: str, title: str, texts: list[str]) -> bytes:
    if kind == ".txt":
        return "\n\n".join(texts).encode("utf-8")
    if kind == ".md":
        return (f"# {title}\n\n" + "\n\n".join(texts)).encode("utf-8")
    if kind == ".html":
        body = "".join(f"<p>{html.escape(t)}</p>\n" for t in texts)
        return f"<html><head><title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>\n{body}</body></html>".encode()
    if kind == ".docx":
        import docx

        document = docx.Document()
        document.add_heading(title, level=1)
        for text in texts:
            document.add_paragraph(text)
        buffer = io.BytesIO()
        document.save(buffer)
        return buffer.getvalue()
    from fpdf import FPDF  # the bench extra

    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    pdf.add_page()
    for text in texts:  # the core fonts are Latin-1: other characters become "?"
        pdf.multi_cell(0, 5, text.encode("latin-1", "replace").decode("latin-1"))
        pdf.ln(2)
    return bytes(pdf.output())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.eval.bench.file_corpus", description=__doc__.split("\n")[0])
    parser.add_argument("--squad", type=Path, required=True, help="SQuAD train-v1.1.json")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    questions = make_corpus(args.squad, args.files, args.out)
    print(f"{args.files} files in {args.out}, {len(questions)} questions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
