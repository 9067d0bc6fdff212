"""A hostile user's files and folders: rag never deletes what it did not make, never serves a file
from outside the corpus, and a refused upload leaves nothing behind (issue 17, items 1-3)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from rag import Config, CorpusError, Pipeline
from rag.corpus import load_corpus
from rag.store import load_index, sync_index
from rag.store.folder import BUILD_MARKER, IndexFolder
from tests.helpers import DOCS, HashEmbedder, make_config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def corpus_of(folder: Path, *names: str) -> Path:
    for name in names:
        write(folder / name, f"The {name} document says the naval exercise took place in Busan in May.")
    return folder


def pipeline(tmp_path: Path, corpus: Path, index: Path | None = None) -> Pipeline:
    config = Config(corpus_dir=corpus, index_dir=index or tmp_path / "index", chunk_chars=150, chunk_overlap=40)
    return Pipeline(config, embedder=HashEmbedder())


# 1. rag deletes only folders it made, and refuses a corpus tangled with its own folders.

def test_a_users_folder_named_like_a_build_survives_every_sync(tmp_path: Path) -> None:
    config = make_config(tmp_path / "index")
    sync_index(config, DOCS, HashEmbedder())
    keep = write(tmp_path / "index" / "build-keep" / "precious.txt", "my notes")
    lookalike = write(tmp_path / "index" / "build-20990101T000000-deadbeef" / "precious.txt", "more notes")
    sync_index(config, DOCS[:2], HashEmbedder())
    sync_index(config, DOCS, HashEmbedder(), rebuild=True)
    assert keep.read_text() == "my notes" and lookalike.read_text() == "more notes"
    builds = [p for p in (tmp_path / "index").glob("build-*") if IndexFolder(tmp_path / "index").is_own_build(p)]
    assert len(builds) == 1 and (builds[0] / BUILD_MARKER).is_file()  # rag's own old builds do go


@pytest.mark.parametrize("layout", ["same", "index inside corpus", "corpus inside index", "uploads inside corpus"])
def test_a_corpus_that_is_holds_or_lies_in_rags_folders_is_refused(tmp_path: Path, layout: str) -> None:
    corpus = corpus_of(tmp_path / "corpus", "a.txt")
    index = {"same": corpus, "index inside corpus": corpus / "idx", "corpus inside index": tmp_path,
             "uploads inside corpus": tmp_path / "index"}[layout]
    config = Config(corpus_dir=corpus, index_dir=index, chunk_chars=150, chunk_overlap=40,
                    uploads_dir=str(corpus / "up") if layout == "uploads inside corpus" else "")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(CorpusError, match="corpus folder .* (is also|holds|lies inside) the (index|uploads) folder"):
        Pipeline(config, embedder=HashEmbedder()).index()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


def test_corpus_equal_to_index_from_the_command_line_is_one_line(tmp_path: Path, capsys) -> None:
    from rag import cli

    corpus = corpus_of(tmp_path / "corpus", "a.txt")
    code = cli.main(["index", "--corpus", str(corpus), "--index", str(corpus)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "is also the index folder" in err


# 2. Links to files outside the corpus are never read.

def test_a_link_to_a_file_outside_the_corpus_is_skipped_with_a_warning(tmp_path: Path, caplog) -> None:
    secret = write(tmp_path / "outside" / "passwd.txt", "root:x:0:0:root:/root:/bin/bash")
    corpus = corpus_of(tmp_path / "corpus", "a.txt", "notes/b.txt")
    os.symlink(secret, corpus / "passwd.txt")
    os.symlink(tmp_path / "outside", corpus / "linked-folder")
    os.symlink(corpus / "notes" / "b.txt", corpus / "same-b.txt")  # inside: read, under the link's name
    os.symlink(tmp_path / "nowhere.txt", corpus / "broken.txt")
    with caplog.at_level(logging.WARNING, logger="rag.corpus"):
        documents = load_corpus(corpus)
    assert [d.doc_id for d in documents] == ["a.txt", "notes/b.txt", "same-b.txt"]
    assert all("/bin/bash" not in d.text for d in documents)
    assert "passwd.txt: it links to" in caplog.text and "outside the corpus folder" in caplog.text
    assert "broken.txt: cannot follow it" in caplog.text


def test_search_and_ask_never_return_text_from_outside(tmp_path: Path) -> None:
    secret = write(tmp_path / "outside" / "passwd.txt", "root bin bash daemon sbin nologin")
    corpus = corpus_of(tmp_path / "corpus", "a.txt")
    os.symlink(secret, corpus / "passwd.txt")
    qa = pipeline(tmp_path, corpus)
    qa.index()
    hits = qa.search("root bin bash", k=5, retrieval="bm25")
    assert hits and all("bash" not in h.chunk.text for h in hits)
    with pytest.raises(CorpusError):
        qa.document("passwd.txt")


# 3. A refused upload leaves nothing behind, and cannot break rag for everyone.

def test_an_upload_that_clashes_with_a_corpus_document_writes_nothing(tmp_path: Path) -> None:
    corpus = corpus_of(tmp_path / "corpus", "a.txt", "uploads/guide.txt")
    qa = pipeline(tmp_path, corpus)
    qa.index()
    with pytest.raises(CorpusError, match="corpus already has a document 'uploads/guide.txt'"):
        qa.add_document("guide.txt", b"Another guide to the naval exercise.")
    uploads = qa.config.uploads_folder
    assert not uploads.exists() or not any(uploads.iterdir())
    # rag still works for everyone: another upload, a fresh pipeline, a status.
    report = qa.add_document("other.txt", b"The other upload names the ship Cheonan.")
    assert report.added == ("uploads/other.txt",)
    fresh = pipeline(tmp_path, corpus)
    assert not fresh.index().wrote_index  # loads and finds everything up to date
    assert load_index(fresh.config, HashEmbedder().name).count() > 0


def test_an_upload_whose_indexing_fails_is_rolled_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = corpus_of(tmp_path / "corpus", "a.txt")
    qa = pipeline(tmp_path, corpus)
    qa.index()
    qa.add_document("notes.md", b"The first version of the notes.")
    saved = qa.config.uploads_folder / "notes.md"

    def refuse(self, rebuild: bool = False):
        raise CorpusError("simulated refusal while indexing")

    monkeypatch.setattr(Pipeline, "index", refuse)
    with pytest.raises(CorpusError, match="simulated"):
        qa.add_document("notes.md", b"A second version that fails to index.")
    assert saved.read_bytes() == b"The first version of the notes."  # the replaced upload is back
    with pytest.raises(CorpusError, match="simulated"):
        qa.add_document("new.md", b"A new upload that fails to index.")
    assert not (qa.config.uploads_folder / "new.md").exists()  # the new one is gone


# 4. A file no parser can read is skipped with a warning, whatever the parser raises.

@pytest.mark.parametrize("page", [
    '<meta charset="idna"><p>x idna page</p>',
    '<meta charset="undefined"><p>x undefined page</p>',
    '<meta charset="punycode"><p>x punycode page</p>',
    "<p>x</p><![unknownkw[ y ]]>",
])
def test_hostile_html_is_read_or_skipped_never_a_crash(tmp_path: Path, page: str, caplog) -> None:
    corpus = corpus_of(tmp_path / "corpus", "a.txt")
    (corpus / "page.html").write_bytes(page.encode("utf-8"))
    with caplog.at_level(logging.WARNING, logger="rag.corpus"):
        documents = load_corpus(corpus)
    ids = [d.doc_id for d in documents]
    assert "a.txt" in ids
    if "page.html" in ids:  # decoded as UTF-8 instead of the charset it claims
        assert "page" in next(d for d in documents if d.doc_id == "page.html").text
    else:
        assert "skipping page.html: cannot parse it" in caplog.text


def test_a_parser_that_raises_anything_skips_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    import rag.extract

    corpus = corpus_of(tmp_path / "corpus", "a.txt")
    (corpus / "b.docx").write_bytes(b"PK not really")
    (corpus / "c.pdf").write_bytes(b"%PDF-1.4 not really")

    def explode(path: Path, max_chars: int | None = None):
        raise AssertionError("a parser bug")

    monkeypatch.setitem(rag.extract._READERS, ".pdf", explode)
    with caplog.at_level(logging.WARNING, logger="rag.corpus"):
        assert [d.doc_id for d in load_corpus(corpus)] == ["a.txt"]
    assert "skipping c.pdf: cannot parse it (AssertionError: a parser bug)" in caplog.text
    assert "skipping b.docx" in caplog.text


# 5. A file name that is not UTF-8 is skipped before anything is embedded.

def test_a_file_name_that_is_not_utf8_is_skipped_with_a_warning(tmp_path: Path, caplog) -> None:
    corpus = corpus_of(tmp_path / "corpus", "a.txt")
    with open(os.fsencode(corpus) + b"/bad\xffname.txt", "w", encoding="utf-8") as f:
        f.write("The badly named file talks about the naval exercise.")
    qa = pipeline(tmp_path, corpus)
    with caplog.at_level(logging.WARNING, logger="rag.corpus"):
        report = qa.index()
    assert report.added == ("a.txt",)
    assert "skipping bad\ufffdname.txt: its name is not valid UTF-8" in caplog.text
    assert load_index(qa.config, HashEmbedder().name).manifest.documents.keys() == {"a.txt"}


# 6. A question with bytes that are not UTF-8, or a lone surrogate through the API.

@pytest.mark.parametrize("question", ["naval \udcff exercise", "naval \ud800 exercise", "\udcff"])
def test_lone_surrogates_in_a_question_are_read_as_spaces(tmp_path: Path, question: str) -> None:
    from rag import QuestionError

    qa = pipeline(tmp_path, corpus_of(tmp_path / "corpus", "a.txt"))
    if question.strip("\udcff\ud800 "):  # noqa: B005 (a set of characters, on purpose)
        hits = qa.search(question, k=1, retrieval="bm25")
        assert hits and "naval exercise" in hits[0].chunk.text
    else:
        with pytest.raises(QuestionError, match="empty"):
            qa.search(question, k=1)


def test_a_question_argument_that_is_not_utf8_gets_an_answer(tmp_path: Path, capsys, shared_models) -> None:
    import json

    from rag import cli

    corpus = corpus_of(tmp_path / "corpus", "a.txt")
    # What Python makes of `rag search $'where naval \xff exercise'`: the byte as a lone surrogate.
    question = b"where naval \xff exercise".decode("utf-8", "surrogateescape")
    code = cli.main(["search", question, "--corpus", str(corpus), "--index", str(tmp_path / "index"), "--json", "-q"])
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out.encode("utf-8"))  # valid UTF-8 out, whatever came in
    assert result["question"] == "where naval \ufffd exercise" and result["passages"]


# 7. Hand-edited index files are "damaged", one line, never a traceback.

@pytest.mark.parametrize("edit", [
    ("manifest", "documents", None), ("manifest", "store", "faiss"), ("manifest", "passages", "12"),
    ("manifest", "document_info", []), ("manifest", "documents", {"a.txt": 3}), ("manifest", "extra", 1),
    ("pointer", b"\xff\xfe", None), ("pointer", b"../../elsewhere\n", None), ("pointer", b"", None),
])
def test_hand_edited_index_files_are_refused_as_damaged(tmp_path: Path, edit: tuple, capsys) -> None:
    import json

    from rag import CorruptIndexError, cli

    config = make_config(tmp_path / "index")
    sync_index(config, DOCS, HashEmbedder())
    folder = IndexFolder(tmp_path / "index")
    where, key, value = edit
    if where == "manifest":
        path = folder.current_build() / "manifest.json"
        raw = json.loads(path.read_text())
        raw[key] = value
        path.write_text(json.dumps(raw))
    else:
        (tmp_path / "index" / "CURRENT").write_bytes(key)
    with pytest.raises(CorruptIndexError, match="damaged"):
        load_index(config, HashEmbedder().name)
    code = cli.main(["status", "--corpus", str(corpus_of(tmp_path / "corpus", "a.txt")), "--index", str(tmp_path / "index")])
    err = capsys.readouterr().err
    assert code == 2 and "damaged" in err and "Traceback" not in err


# 8. Negative numbers for `rag show` are errors, not "the whole document".

def test_show_refuses_a_negative_context(tmp_path: Path, capsys) -> None:
    from rag import cli

    corpus = corpus_of(tmp_path / "corpus", "a.txt")
    code = cli.main(["show", "a.txt", "--corpus", str(corpus), "--index", str(tmp_path / "index"),
                     "--start", "0", "--end", "3", "--context", "-10"])
    assert code == 2 and "--context must be 0 or more" in capsys.readouterr().err
    code = cli.main(["show", "a.txt", "--corpus", str(corpus), "--index", str(tmp_path / "index"), "--start", "-1"])
    assert code == 2 and "--start/--end must satisfy 0 <= start" in capsys.readouterr().err


# 11. max_document_bytes bounds the extracted text, not only the file.

def test_a_small_file_that_expands_to_too_much_text_is_skipped(tmp_path: Path, caplog) -> None:
    import docx

    corpus = corpus_of(tmp_path / "corpus", "a.txt")
    document = docx.Document()
    for _ in range(400):
        document.add_paragraph("the naval exercise " * 40)
    document.save(str(corpus / "bomb.docx"))
    size = (corpus / "bomb.docx").stat().st_size
    limit = 100_000
    assert size < limit  # the file passes the byte limit; its ~300,000 characters do not
    with caplog.at_level(logging.WARNING, logger="rag.corpus"):
        ids = [d.doc_id for d in load_corpus(corpus, max_bytes=limit)]
    assert ids == ["a.txt"]
    # Refused from its zip directory, before parsing: its ~340 KB of XML is past 4x the limit.
    assert "skipping bomb.docx: its parts expand to more than 400,000 bytes from" in caplog.text


# 12. Every API parameter is bounded, and the error says the bound.

def test_top_k_is_bounded_through_the_api(tmp_path: Path) -> None:
    from rag import ConfigError
    from rag.questions import MAX_TOP_K

    qa = pipeline(tmp_path, corpus_of(tmp_path / "corpus", "a.txt", "b.txt"))
    assert len(qa.search("naval exercise", k=MAX_TOP_K)) == 2
    for k in (10**9, MAX_TOP_K + 1, 0, -1):
        with pytest.raises(ConfigError, match=f"top-k must be a whole number from 1 to {MAX_TOP_K}"):
            qa.search("naval exercise", k=k)


# 14. `rag eval --tune` writes the value rag will read, and keeps the file's permissions.

def test_the_tuned_threshold_is_the_one_rag_reads(tmp_path: Path) -> None:
    from rag import load_config
    from rag.eval.tuning import write_threshold

    path = tmp_path / "rag.toml"
    path.write_text("min_confidence = 0.10\ntop_k = 4\n\n[rag]\nmin_confidence = 0.20  # mine\n")
    os.chmod(path, 0o640)
    write_threshold(path, 0.42)
    assert load_config(path).min_confidence == 0.42
    text = path.read_text()
    assert "min_confidence = 0.42\ntop_k = 4" in text and "min_confidence = 0.42  # mine" in text
    assert path.stat().st_mode & 0o777 == 0o640
    fresh = tmp_path / "new.toml"
    write_threshold(fresh, 0.3)
    assert fresh.stat().st_mode & 0o777 == 0o644


def test_uploads_are_saved_readable_like_other_files(tmp_path: Path) -> None:
    qa = pipeline(tmp_path, corpus_of(tmp_path / "corpus", "a.txt"))
    qa.add_document("notes.md", b"The notes on the naval exercise.")
    assert (qa.config.uploads_folder / "notes.md").stat().st_mode & 0o777 == 0o644


# 16. Names cannot forge terminal lines; one place, one citation; no made-up DOCX titles.

def test_control_characters_in_file_names_are_escaped_on_the_terminal(tmp_path: Path, capsys) -> None:
    from rag import cli
    from rag.text import printable

    assert printable("evil\nrag: all good\x1b[2J.txt") == "evil\\nrag: all good\\x1b[2J.txt"
    corpus = corpus_of(tmp_path / "corpus", "a.txt")
    write(corpus / "evil\nrag: index is fine.txt", "The evil file talks about the naval exercise too.")
    code = cli.main(["show", "evil\nrag: index is fine.txt", "--corpus", str(corpus), "--index", str(tmp_path / "index")])
    out = capsys.readouterr().out
    assert code == 0 and out.splitlines()[0].startswith("evil\\nrag: index is fine.txt")


def test_the_same_mention_with_and_without_its_full_stop_is_one_citation() -> None:
    from rag.answer import decide
    from rag.types import Chunk, Hit, Span

    text = "The code was 7777. Nobody knew it."
    chunk = Chunk("a.txt", 0, 0, len(text), text)
    start = text.index("7777")
    spans = [Span(chunk, start, start + 4, "7777", 0.9), Span(chunk, start, start + 5, "7777.", 0.6)]
    answer = decide("What was the code?", spans, [Hit(chunk, 1.0, dense_score=0.6, bm25_score=1.0)], min_confidence=0.0)
    assert answer.text == "7777"
    assert [(c.start, c.end) for c in answer.citations] == [(start, start + 4)]


def test_a_docx_without_core_properties_is_not_titled_word_document(tmp_path: Path) -> None:
    import re
    import zipfile

    import docx

    from rag.extract import extract

    document = docx.Document()
    document.add_heading("Harbour Report", level=1)
    document.add_paragraph("The harbour was dredged in May.")
    document.save(str(tmp_path / "full.docx"))
    with zipfile.ZipFile(tmp_path / "full.docx") as src, zipfile.ZipFile(tmp_path / "bare.docx", "w") as dst:
        for item in src.infolist():
            if item.filename != "docProps/core.xml":
                data = src.read(item.filename)
                if item.filename in ("[Content_Types].xml", "_rels/.rels"):  # no mention of it either
                    data = re.sub(rb"<(Relationship|Override)\b[^>]*docProps/core\.xml[^>]*/>", b"", data)
                dst.writestr(item, data)
    assert extract(tmp_path / "bare.docx").title == "Harbour Report"


# 9. A reader racing an update gets the old build or the new one, never "damaged".

def test_a_build_removed_while_it_is_being_loaded_loads_the_new_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config(tmp_path / "index")
    sync_index(config, DOCS, HashEmbedder())
    folder = IndexFolder(config.index_dir)
    stale = folder.current_build()
    sync_index(config, DOCS[:2], HashEmbedder())  # publishes a new build and removes the old one
    assert not stale.exists()
    real = IndexFolder.current_build
    calls = []

    def first_the_stale_one(self):
        calls.append(1)
        return stale if len(calls) == 1 else real(self)

    monkeypatch.setattr(IndexFolder, "current_build", first_the_stale_one)
    store = load_index(config, HashEmbedder().name)
    assert set(store.manifest.documents) == {d.doc_id for d in DOCS[:2]}


def _keep_updating(index_dir: str, rounds: int) -> None:
    config = make_config(Path(index_dir))
    for i in range(rounds):
        sync_index(config, DOCS if i % 2 else DOCS[:2], HashEmbedder())


def test_readers_never_see_a_damaged_index_while_another_process_updates_it(tmp_path: Path) -> None:
    import multiprocessing

    config = make_config(tmp_path / "index")
    sync_index(config, DOCS, HashEmbedder())
    writer = multiprocessing.get_context("spawn").Process(target=_keep_updating, args=(str(config.index_dir), 60))
    writer.start()
    loads = 0
    try:
        while writer.is_alive() or loads < 50:
            store = load_index(config, HashEmbedder().name)
            assert store is not None and store.count() > 0
            loads += 1
    finally:
        writer.join(timeout=120)
    assert writer.exitcode == 0 and loads >= 50


# 10. `rag ask` while `rag index` updates a changed corpus answers from the current build.

def test_asking_while_another_process_updates_answers_from_the_current_build(tmp_path: Path, caplog) -> None:
    corpus = corpus_of(tmp_path / "corpus", "a.txt")
    pipeline(tmp_path, corpus).index()
    write(corpus / "b.txt", "A new document about the Yongsan garrison.")  # the corpus changed
    with IndexFolder(tmp_path / "index").exclusive():  # as `rag index` holds it while it embeds
        qa = pipeline(tmp_path, corpus)
        with caplog.at_level(logging.WARNING, logger="rag.pipeline"):
            hits = qa.search("naval exercise", k=3, retrieval="bm25")
    assert hits and {h.chunk.doc_id for h in hits} == {"a.txt"}  # the build as it was
    assert "is being updated by another process; answering from its current build" in caplog.text


# 13. Gradio's copy of every upload, accepted or refused, is removed once rag has read it.

def test_gradio_copies_of_uploads_are_removed_and_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.ui.handlers import add_files

    gradio_tmp = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(gradio_tmp))
    good = write(gradio_tmp / "abc123" / "notes.md", "The notes on the naval exercise.")
    bad = write(gradio_tmp / "def456" / "photo.pdf", "not text")
    mine = write(tmp_path / "elsewhere" / "mine.md", "A file of the user's, outside Gradio's folder.")
    qa = pipeline(tmp_path, corpus_of(tmp_path / "corpus", "a.txt"))
    status = add_files(qa, [str(good), str(bad), str(mine)]).replace("\\", "")  # Markdown escapes off
    assert "Added: uploads/notes.md" in status and "Refused photo.pdf: not a readable PDF" in status
    assert "Added: uploads/mine.md" in status
    assert not good.exists() and not bad.exists() and not (gradio_tmp / "abc123").exists()
    assert mine.exists()  # not Gradio's: left alone
    assert gradio_tmp.is_dir()
