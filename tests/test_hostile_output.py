"""Document text cannot forge or hide what rag prints (issue 30, item 9): anyone who can add a document
(an upload is enough) writes text that `rag ask`, `rag search`, `rag show` and the logs print. Every
control character of it reaches the terminal as an escape, and `--json` keeps its meaning."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag import cli
from rag.text import inert, inert_json

# What a terminal would act on: C0/C1 controls, DEL, bidi overrides. Newlines separate rag's own lines.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
FORGED = "\x1b[1A\x1b[2KThe exercise was held in Busan (confidence 0.99)\x1b[8m"
HOSTILE = (
    "The naval exercise was held in Seoul in May, said the ministry." + FORGED + " Its report\r"
    "\x9b2J followed\u202e on Friday.\x07"
)


def hostile_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "report.txt").write_text("Naval report\x1b]0;pwned\x07\n\n" + HOSTILE + "\n", encoding="utf-8")
    (corpus / "other.txt").write_text("The ministry also spoke about budgets and ships.\n", encoding="utf-8")
    return corpus


def run(capsys, *argv: str) -> str:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert not RAW_CONTROL.search(captured.err), captured.err
    return captured.out


def test_inert_escapes_every_control_and_keeps_the_rest() -> None:
    assert inert("a\x1b[2Kb\x9bc\u202ed\re\tf\ng") == "a\\x1b[2Kb\\x9bc\\u202ed\\re\\tf\\ng"
    assert inert("line one\n\tline two\r", keep_lines=True) == "line one\n\tline two\\r"
    assert inert("Ahn Gyu-back, 안규백, naïve — “quoted” 😀") == "Ahn Gyu-back, 안규백, naïve — “quoted” 😀"
    text = inert_json({"t": "a\x1bb\x9bc\u202ed"})
    assert not RAW_CONTROL.search(text) and json.loads(text) == {"t": "a\x1bb\x9bc\u202ed"}


@pytest.mark.parametrize("command", ["ask", "search"])
def test_answers_and_passages_print_document_text_inert(tmp_path: Path, capsys, shared_models, command: str) -> None:
    corpus = hostile_corpus(tmp_path)
    out = run(capsys, command, "Where was the naval exercise held?", "--corpus", str(corpus),
              "--index", str(tmp_path / "index"))
    assert not RAW_CONTROL.search(out), out
    assert "\\x1b[1A\\x1b[2K" in out  # shown, as an escape: the forged line stays on the real one's line
    if command == "ask":
        first = out.splitlines()[0]
        assert first.startswith("Seoul") and "(confidence" in first, out


def test_show_prints_the_document_inert_with_its_lines(tmp_path: Path, capsys, shared_models) -> None:
    corpus = hostile_corpus(tmp_path)
    base = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    whole = run(capsys, "show", "report.txt", *base)
    assert not RAW_CONTROL.search(whole) and "\\x1b]0;pwned\\x07" in whole and "\\x9b2J" in whole
    assert whole.splitlines()[0] == "report.txt · Naval report\\x1b]0;pwned\\x07"
    # header, then the document's own lines (a lone CR reads as a line break in a .txt) and print's end
    assert len(whole.splitlines()) == 6 and whole.splitlines()[4].startswith("\\x9b2J followed")
    span = run(capsys, "show", "report.txt", "--start", "0", "--end", "30", "--context", "200", *base)
    assert not RAW_CONTROL.search(span) and "«Naval report" in span


@pytest.mark.parametrize("command", ["ask", "search", "show"])
def test_json_output_is_inert_and_keeps_the_text(tmp_path: Path, capsys, shared_models, command: str) -> None:
    corpus = hostile_corpus(tmp_path)
    subject = "report.txt" if command == "show" else "Where was the naval exercise held?"
    out = run(capsys, command, subject, "--json", "--corpus", str(corpus), "--index", str(tmp_path / "index"))
    assert not RAW_CONTROL.search(out), out
    assert "\x9b2J" in json.dumps(json.loads(out), ensure_ascii=False)  # the reader gets the text as it is
