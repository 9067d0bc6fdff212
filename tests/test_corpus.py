"""load_corpus: which files become documents, their ids, and their exact text."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rag.corpus import content_hash, load_corpus
from rag.errors import CorpusError


def write(folder: Path, relative: str, data: str | bytes) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8", newline="")
    return path


def read_like_python(path: Path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_reads_txt_and_md_recursively_in_sorted_order(tmp_path: Path) -> None:
    for relative in ["b.txt", "a.md", "sub/z.txt", "sub/deeper/a.md", "a.txt", "sub.txt", "A.txt"]:
        write(tmp_path, relative, f"Text of {relative}.\n")

    documents = load_corpus(tmp_path)

    ids = [d.doc_id for d in documents]
    assert ids == sorted(["b.txt", "a.md", "sub/z.txt", "sub/deeper/a.md", "a.txt", "sub.txt", "A.txt"])
    assert ids == ["A.txt", "a.md", "a.txt", "b.txt", "sub.txt", "sub/deeper/a.md", "sub/z.txt"]
    for d in documents:
        assert d.text == f"Text of {d.doc_id}.\n"


def test_doc_id_is_relative_path_with_slashes(tmp_path: Path) -> None:
    write(tmp_path, "news/2025/korea.txt", "Seoul.\n")

    [document] = load_corpus(tmp_path)

    assert document.doc_id == "news/2025/korea.txt"
    assert (tmp_path / document.doc_id).is_file()


def test_accepts_a_folder_given_as_str(tmp_path: Path) -> None:
    write(tmp_path, "one.txt", "One.")

    assert [d.doc_id for d in load_corpus(str(tmp_path))] == ["one.txt"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"First line.\r\nSecond line.\r\n\r\nThird paragraph.\r\n", id="crlf"),
        pytest.param(b"Old Mac line.\rNext.\r", id="cr"),
        pytest.param("서울에서 두 장관이 만났다. 🇰🇷🤝🇯🇵 Done 😀.\n".encode(), id="korean-emoji"),
        pytest.param("Café – “quoted” ’tis naïve\u00a0text\u2028line.".encode("utf-8"), id="punctuation"),
        pytest.param(b"  leading and trailing whitespace  \n\n", id="whitespace-edges"),
        pytest.param(b"no newline at end", id="no-final-newline"),
    ],
)
def test_text_is_exactly_what_open_read_returns(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, "doc.txt", data)

    [document] = load_corpus(tmp_path)

    assert document.text == read_like_python(path)
    assert document.content_hash == content_hash(document.text)


def test_crlf_becomes_newline_as_open_read_does(tmp_path: Path) -> None:
    write(tmp_path, "doc.txt", b"One.\r\nTwo.\r\n")

    [document] = load_corpus(tmp_path)

    assert document.text == "One.\nTwo.\n"


def test_content_hash_is_sha256_of_utf8_text() -> None:
    assert content_hash("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert content_hash("서울") != content_hash("서울 ")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        pytest.param("bad.txt", b"\xff\xfe\x00bad", "not valid UTF-8", id="not-utf8"),
        pytest.param("latin1.md", "caf\u00e9 au lait".encode("latin-1"), "not valid UTF-8", id="latin1"),
        pytest.param("empty.txt", b"", "empty", id="empty"),
        pytest.param("blank.md", b"  \n\t\r\n  \n", "empty", id="whitespace-only"),
        pytest.param("nul.txt", b"text\x00with a NUL", "binary", id="nul-byte"),
    ],
)
def test_unreadable_file_is_skipped_with_a_warning_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, data: bytes, reason: str
) -> None:
    write(tmp_path, "good.txt", "A good document.\n")
    write(tmp_path, f"sub/{name}", data)
    write(tmp_path, "zz.md", "Another good one.\n")

    with caplog.at_level(logging.WARNING, logger="rag.corpus"):
        documents = load_corpus(tmp_path)

    assert [d.doc_id for d in documents] == ["good.txt", "zz.md"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"sub/{name}" in warnings[0].getMessage()
    assert reason in warnings[0].getMessage()


def test_hidden_files_and_folders_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "visible.txt", "Visible.")
    write(tmp_path, ".hidden.txt", "Hidden file.")
    write(tmp_path, ".git/notes.md", "Hidden folder.")
    write(tmp_path, "sub/.cache/deep.txt", "Hidden folder below a visible one.")
    write(tmp_path, "sub/.swp.md", "Hidden file in a visible folder.")
    write(tmp_path, "sub/kept.md", "Kept.")

    documents = load_corpus(tmp_path)

    assert [d.doc_id for d in documents] == ["sub/kept.md", "visible.txt"]


def test_a_hidden_parent_of_the_corpus_folder_does_not_hide_it(tmp_path: Path) -> None:
    corpus = tmp_path / ".config" / "docs"
    write(corpus, "a.txt", "Inside a hidden parent.")

    assert [d.doc_id for d in load_corpus(corpus)] == ["a.txt"]


def test_other_suffixes_are_ignored_and_a_corrupt_pdf_is_skipped(tmp_path: Path, caplog) -> None:
    write(tmp_path, "report.pdf", b"%PDF-1.7 binary")
    write(tmp_path, "table.csv", "a,b\n1,2\n")
    write(tmp_path, "notes.txt.bak", "Backup.")
    write(tmp_path, "README", "No suffix.")
    write(tmp_path, "page.html", "<p>Hi.</p>")
    write(tmp_path, "folder.txt/inner.md", "A folder named like a document is not one.")
    write(tmp_path, "UPPER.TXT", "Upper-case suffix.")
    write(tmp_path, "notes.md", "Markdown.")

    documents = load_corpus(tmp_path)

    assert [d.doc_id for d in documents] == ["UPPER.TXT", "folder.txt/inner.md", "notes.md", "page.html"]
    assert documents[-1].text == "Hi."
    assert "skipping report.pdf: not a readable PDF" in caplog.text


def test_missing_folder_raises_corpus_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"

    with pytest.raises(CorpusError, match="no-such-folder"):
        load_corpus(missing)


def test_a_file_instead_of_a_folder_raises_corpus_error(tmp_path: Path) -> None:
    path = write(tmp_path, "single.txt", "One document.")

    with pytest.raises(CorpusError, match="single.txt"):
        load_corpus(path)


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({}, id="empty-folder"),
        pytest.param({"bad.txt": b"\xff\xfe\x00bad", "blank.md": b"\n \n"}, id="only-unreadable"),
        pytest.param({"a.pdf": b"%PDF", ".hidden.txt": b"Hidden."}, id="only-ignored"),
    ],
)
def test_folder_without_a_readable_document_raises_corpus_error(tmp_path: Path, files: dict[str, bytes]) -> None:
    corpus = tmp_path / "my-corpus"
    corpus.mkdir()
    for name, data in files.items():
        write(corpus, name, data)

    with pytest.raises(CorpusError) as excinfo:
        load_corpus(corpus)

    assert str(corpus) in str(excinfo.value)
    assert "no readable" in str(excinfo.value)


def test_seeds_load_as_they_read() -> None:
    seeds = Path(__file__).resolve().parent.parent / "seeds"

    documents = load_corpus(seeds)

    assert [d.doc_id for d in documents] == sorted(p.name for p in seeds.glob("*.txt"))
    for d in documents:
        assert d.text == read_like_python(seeds / d.doc_id)


# --- documents added from the web chat -------------------------------------------------------------

from rag.corpus import read_document  # noqa: E402
from rag.uploads import save_document  # noqa: E402


@pytest.mark.parametrize(
    "name",
    ["../escape.txt", "/tmp/absolute.txt", "sub/inner.txt", "..\\windows.txt", ".hidden.txt", "", "..", "a\x00b.txt",
     "tab\tname.txt", "x" * 260 + ".txt"],
)
def test_upload_names_cannot_leave_the_uploads_folder(tmp_path: Path, name: str) -> None:
    uploads = tmp_path / "uploads"
    with pytest.raises(CorpusError, match="file name"):
        save_document(uploads, name, b"Some text.", 1000)
    assert not (tmp_path / "escape.txt").exists()
    assert not uploads.exists() or list(uploads.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("notes.odt", b"text", "it is a .odt file; rag reads .txt, .md, .pdf"),
        ("notes.pdf", b"text", "refused notes.pdf: "),
        ("page.docx", b"PK not a zip", "refused page.docx: "),
        ("big.txt", b"x" * 101, "limit is 100"),
        ("latin.txt", "caf\u00e9".encode("latin-1"), "not UTF-8"),
        ("binary.txt", b"abc\x00def", "binary"),
        ("blank.md", b" \n\t\n", "empty"),
    ],
)
def test_bad_uploads_are_refused_and_write_nothing(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    uploads = tmp_path / "uploads"
    with pytest.raises(CorpusError, match=message):
        save_document(uploads, name, data, 100)
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_upload_is_written_whole_and_replaces_one_of_the_same_name(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    path = save_document(uploads, "Notes.MD", b"First version.\r\n", 1000)
    assert path == uploads / "Notes.MD" and path.read_bytes() == b"First version.\r\n"
    save_document(uploads, "Notes.MD", "Second versión.".encode(), 1000)
    assert sorted(p.name for p in uploads.iterdir()) == ["Notes.MD"]  # no temporary file left
    assert [d.text for d in load_corpus(uploads, id_prefix="uploads/")] == ["Second versión."]
    assert load_corpus(uploads, id_prefix="uploads/")[0].doc_id == "uploads/Notes.MD"


def test_read_document_by_id_stays_inside_its_folder(tmp_path: Path) -> None:
    write(tmp_path / "corpus", "sub/a.md", "Alpha.")
    write(tmp_path, "secret.txt", "Not in the corpus.")
    assert read_document(tmp_path / "corpus", "sub/a.md").text == "Alpha."
    for bad in ["../secret.txt", "missing.txt", "sub", "/etc/passwd"]:
        with pytest.raises(CorpusError, match="no document"):
            read_document(tmp_path / "corpus", bad)


def test_an_empty_uploads_folder_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "uploads").mkdir()
    assert load_corpus(tmp_path / "uploads", allow_empty=True) == []
    with pytest.raises(CorpusError):
        load_corpus(tmp_path / "uploads")
