"""Small files that expand to a lot of work are refused, with the reason, before they cost it
(issue 30, item 2): zip bombs dressed as .docx, PDFs whose pages share one huge content stream or
whose few bytes hold millions of characters; an upload over the text limit is refused and leaves
nothing behind (the chat said "Added" for a document the indexer then skipped)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from rag import Config, CorpusError, Pipeline
from rag.corpus import load_corpus
from rag.extract import TextLimitError, extract
from tests.helpers import HashEmbedder
from tests.hostile_files import docx_bytes, pdf_bytes


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


BOMBS = {
    "zip.docx": lambda: docx_bytes(20_000),  # 5.7 KB holding 1.2 MB of XML, 760,000 characters
    "shared.pdf": lambda: pdf_bytes(48, 2_000, shared=True),  # 9 KB: 48 pages draw one 110 KB stream
    "dense.pdf": lambda: pdf_bytes(1, 5_000),  # 3 KB holding 190,000 characters
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_decompression_bomb_is_skipped_with_the_reason(tmp_path: Path, name: str, caplog) -> None:
    corpus = tmp_path / "corpus"
    write(corpus / "a.txt", b"The naval exercise was held in Busan in May.")
    write(corpus / name, BOMBS[name]())
    with caplog.at_level(logging.WARNING, logger="rag.corpus"):
        ids = [d.doc_id for d in load_corpus(corpus, max_bytes=10_000_000)]  # the default limit
    assert ids == ["a.txt"]
    assert f"skipping {name}: its " in caplog.text and "(a decompression bomb?)" in caplog.text


def test_the_same_kinds_of_file_at_ordinary_ratios_are_read(tmp_path: Path) -> None:
    docx = extract(write(tmp_path / "ok.docx", docx_bytes(200)), max_chars=10_000_000)
    pdf = extract(write(tmp_path / "ok.pdf", pdf_bytes(3, 40)), max_chars=10_000_000)
    assert docx.text.count("Busan") == 200 and pdf.text.count("Busan") == 120 and len(pdf.page_starts) == 3


def test_refusing_a_bomb_does_not_grow_with_what_it_expands_to(tmp_path: Path) -> None:
    """Refused from the zip's directory: a bomb 10x larger (12 MB of XML, which took python-docx
    ~25 s) costs about the same to refuse, where parsing it grew 10x."""
    small = write(tmp_path / "small.docx", docx_bytes(20_000))
    large = write(tmp_path / "large.docx", docx_bytes(200_000))

    def seconds(path: Path) -> float:
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            with pytest.raises(TextLimitError):
                extract(path, max_chars=10_000_000)
            best = min(best, time.perf_counter() - started)
        return best

    assert seconds(large) < 5 * seconds(small) + 0.005


def test_pdf_text_over_the_limit_stops_at_the_page_that_passes_it(tmp_path: Path) -> None:
    path = write(tmp_path / "long.pdf", pdf_bytes(30, 60))  # ~2,300 characters a page, ordinary ratio
    with pytest.raises(TextLimitError, match="more than 10,000 characters of text by page 5"):
        extract(path, max_chars=10_000)


@pytest.mark.parametrize(("name", "data"), [
    ("quarterly.docx", docx_bytes(20_000)),
    ("notes.txt", b"The naval exercise. " * 2_000),  # 40 KB: under max_upload_bytes, over max_document_bytes
])
def test_an_upload_over_the_text_limit_is_refused_and_leaves_nothing(tmp_path: Path, name: str, data: bytes) -> None:
    corpus = tmp_path / "corpus"
    write(corpus / "a.txt", b"The naval exercise was held in Busan in May.")
    config = Config(corpus_dir=corpus, index_dir=tmp_path / "index", chunk_chars=150, chunk_overlap=40,
                    max_document_bytes=20_000, max_upload_bytes=1_000_000)
    qa = Pipeline(config, embedder=HashEmbedder())
    qa.index()
    with pytest.raises(CorpusError, match=f"refused {name}: .*(decompression bomb|over the 20,000-byte limit)"):
        qa.add_document(name, data)
    assert qa.uploads() == [] and not any(config.uploads_folder.glob("*"))
    report = qa.add_document("small.txt", b"A small upload about the Yongsan garrison.")  # the next upload is quick and right
    assert report.added == ("uploads/small.txt",) and report.passages_embedded == 1
