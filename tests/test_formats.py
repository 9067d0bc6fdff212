"""PDF, HTML and DOCX documents through the whole pipeline: indexed, answered, cited with title, date and page."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import docx
import pytest
from fpdf import FPDF

from rag import Pipeline, cli


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("formats")
    pdf = FPDF()
    pdf.set_title("Harbour Authority Annual Report")
    pdf.set_creation_date(dt.datetime(2024, 3, 15, 10, 0, tzinfo=dt.UTC))
    pdf.set_font("Helvetica", size=12)
    for body in (
        "The harbour authority opened the new ferry terminal in spring. It cost forty million crowns.",
        "Ferries to the outer islands leave from pier nine every hour. The terminal was designed by Ingrid Vasstrand.",
    ):
        pdf.add_page()
        pdf.multi_cell(0, 10, body)
    pdf.output(str(folder / "harbour.pdf"))
    (folder / "museum.html").write_text(
        "<html><head><title>Museum reopens</title><meta name='date' content='2025-06-02'>"
        "<script>var tracking = 'Zorblax';</script></head><body><h1>Museum news</h1>"
        "<p>The city museum reopened on Saturday after a two-year renovation led by architect Tomas Lindqvist.</p>"
        "</body></html>", encoding="utf-8")
    document = docx.Document()
    document.core_properties.title = "Library budget memo"
    document.core_properties.created = dt.datetime(2026, 2, 1, 9, 0)
    document.add_heading("Library budget", level=1)
    document.add_paragraph("The council approved a library budget of 3.2 million crowns for the new reading room.")
    document.save(str(folder / "memo.docx"))
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    return folder


@pytest.fixture(scope="module")
def pipeline(corpus: Path, tmp_path_factory: pytest.TempPathFactory, embedder, reader) -> Pipeline:
    config = dataclasses.replace(Pipeline().config, corpus_dir=corpus, index_dir=tmp_path_factory.mktemp("idx"))
    return Pipeline(config, embedder=embedder, reader=reader)


def test_pdf_citation_carries_its_page_title_and_date(pipeline: Pipeline) -> None:
    answer = pipeline.ask("Who designed the ferry terminal?")
    assert " ".join(answer.text.split()) == "Ingrid Vasstrand"  # the exact text: the PDF line breaks there
    cited = answer.citations[0]
    assert (cited.doc_id, cited.page, cited.title, cited.date) == ("harbour.pdf", 2, "Harbour Authority Annual Report", "2024-03-15")
    assert pipeline.document("harbour.pdf").text[cited.start:cited.end] == answer.text
    first_page = pipeline.ask("How much did the ferry terminal cost?").citations[0]
    assert first_page.page == 1


def test_html_and_docx_are_answered_with_titles_and_dates(pipeline: Pipeline) -> None:
    museum = pipeline.ask("Which architect led the museum renovation?")
    assert museum.text == "Tomas Lindqvist"
    assert (museum.citations[0].title, museum.citations[0].date, museum.citations[0].page) == ("Museum reopens", "2025-06-02", None)
    assert "Zorblax" not in pipeline.document("museum.html").text  # script content is not document text
    memo = pipeline.ask("How large is the library budget?")
    assert "3.2 million crowns" in memo.text
    assert (memo.citations[0].title, memo.citations[0].date) == ("Library budget memo", "2026-02-01")


def test_an_unparsable_file_is_skipped_with_a_warning(pipeline: Pipeline, caplog) -> None:
    with caplog.at_level("WARNING"):
        report = pipeline.index(rebuild=True)
    assert sorted(report.added) == ["harbour.pdf", "memo.docx", "museum.html"]
    assert "skipping broken.pdf: not a readable PDF" in caplog.text


def test_json_citations_always_have_a_page_field(corpus: Path, tmp_path: Path, monkeypatch, embedder, reader, capsys) -> None:
    monkeypatch.setattr(cli, "Pipeline", lambda config: Pipeline(config, embedder=embedder, reader=reader))
    for question, page in (("Who designed the ferry terminal?", 2), ("Which architect led the museum renovation?", None)):
        assert cli.main(["ask", question, "--corpus", str(corpus), "--index", str(tmp_path / "idx"), "--json", "-q"]) == 0
        citation = json.loads(capsys.readouterr().out)["citations"][0]
        assert citation["page"] == page and {"title", "date"} <= set(citation)
    assert cli.main(["show", "harbour.pdf", "--start", "0", "--end", "10", "--json", "--corpus", str(corpus),
                     "--index", str(tmp_path / "idx")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["page"] == 1 and shown["title"] == "Harbour Authority Annual Report"
