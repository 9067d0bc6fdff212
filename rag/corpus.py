"""Read a folder of documents: every .txt, .md, .pdf, .html and .docx file under it, recursively, in sorted order."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path

from rag.errors import CorpusError
from rag.extract import DOCUMENT_SUFFIXES, ExtractError, TextLimitError, extract
from rag.listing import document_paths
from rag.text import printable
from rag.types import Document

log = logging.getLogger(__name__)

UPLOADS_PREFIX = "uploads/"  # the id of a document added with Pipeline.add_document starts with this

def load_corpus(
    folder: Path, id_prefix: str = "", allow_empty: bool = False, max_bytes: int | None = None,
    known: Mapping[str, Document] | None = None, seen: dict[str, tuple[int, int]] | None = None,
) -> list[Document]:
    """Load every readable document under a folder.

    A document's text is the file's text (.txt, .md: exactly what ``open(path, encoding="utf-8").read()``
    returns) or the text extracted from it (.pdf, .html, .docx). A file that cannot be read or
    parsed, or holds no text, is skipped with a warning naming it; the rest is loaded.

    Args:
        id_prefix: Put before every id (uploaded documents get "uploads/").
        allow_empty: Return [] for a folder with no readable document instead of raising.
        max_bytes: Skip (with a warning) files larger than this.
        known: Documents as the index last read them, by id, each with its file's ``stat``: a file
            whose size and modification time (ns) are the same is not read again; its known
            document (``unread``) is returned instead. Like git and make, rag trusts size + mtime.

    Returns:
        Documents sorted by id; a document's id is ``id_prefix`` + its path relative to ``folder`` with "/".

    Raises:
        CorpusError: The folder is missing, or holds no readable document.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} does not exist; pass --corpus DIR with a folder of .txt/.md files")
    documents = []
    for relative, path in document_paths(folder):
        doc_id = id_prefix + relative
        document = _load(path, doc_id, max_bytes, known.get(doc_id) if known else None, seen)
        if document is not None:
            documents.append(document)
    if not documents and not allow_empty:
        raise CorpusError(f"corpus folder {folder} holds no readable .txt or .md document")
    return documents


def load_documents(
    corpus_dir: Path, index_dir: Path, uploads_folder: Path, max_bytes: int, known: Mapping[str, Document] | None = None,
    seen: dict[str, tuple[int, int]] | None = None,
) -> list[Document]:
    """The corpus folder's documents and the uploaded ones (ids "uploads/…"), each at most
    ``max_bytes``, after checking the corpus is apart from rag's own folders; ``known`` and
    ``seen`` as for :func:`load_corpus`.

    Raises:
        CorpusError: The folders overlap, the corpus holds no readable document, or an upload's id
            is also a corpus document's.
    """
    check_folders_apart(corpus_dir, index_folder=index_dir, uploads_folder=uploads_folder)
    documents = load_corpus(corpus_dir, max_bytes=max_bytes, known=known, seen=seen)
    if uploads_folder.is_dir():
        uploaded = load_corpus(uploads_folder, id_prefix=UPLOADS_PREFIX, allow_empty=True, max_bytes=max_bytes,
                               known=known, seen=seen)
        clash = {d.doc_id for d in documents} & {d.doc_id for d in uploaded}
        if clash:
            raise CorpusError(
                f"{sorted(clash)[0]} is both a corpus document and an upload; rename the corpus folder "
                f"{corpus_dir / 'uploads'} or set uploads_dir"
            )
        documents += uploaded
    return documents


def read_document(folder: Path, relative_id: str, doc_id: str | None = None) -> Document:
    """One document of a folder by its id relative to that folder.

    Raises:
        CorpusError: No readable document has that id (ids never reach outside the folder).
    """
    doc_id = doc_id or relative_id
    root = Path(folder).resolve()
    path = (root / relative_id).resolve()
    inside = path.is_relative_to(root) and not any(p.startswith(".") for p in path.relative_to(root).parts)
    if not inside or path.suffix.lower() not in DOCUMENT_SUFFIXES or not path.is_file():
        raise CorpusError(f"no document {doc_id!r} in {folder}")
    try:
        return _document(path, doc_id)
    except ExtractError as err:
        raise CorpusError(f"document {doc_id!r} in {folder} cannot be read: {err}") from None


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def scan_files(folder: Path, id_prefix: str = "") -> dict[str, tuple[int, int]]:
    """Every document file's (size, mtime in ns) by id, without reading any, and quietly: what tells
    whether the corpus changed ({} for a folder that does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    stats = {}
    for relative, path in document_paths(folder, warn=False):
        try:
            stats[id_prefix + relative] = _stat(path)
        except OSError:
            continue  # vanished meanwhile
    return stats


def check_folders_apart(corpus: Path, **others: Path) -> None:
    """Refuse a corpus folder that is, holds, or lies inside one of rag's own folders (the index
    folder, the uploads folder): rag would index its own files, or delete a user's as its own.

    Raises:
        CorpusError: One line naming the two folders.
    """
    mine = Path(corpus).resolve()
    for what, folder in others.items():
        theirs = Path(folder).resolve()
        name = what.replace("_", " ")
        if mine == theirs:
            raise CorpusError(f"the corpus folder {corpus} is also the {name}; give rag a separate folder for it")
        if theirs.is_relative_to(mine):
            raise CorpusError(f"the corpus folder {corpus} holds the {name} {folder}; put the {name} outside the corpus")
        if mine.is_relative_to(theirs):
            raise CorpusError(f"the corpus folder {corpus} lies inside the {name} {folder}; keep the corpus outside it")


def _load(path: Path, doc_id: str, max_bytes: int | None = None, known: Document | None = None,
          seen: dict[str, tuple[int, int]] | None = None) -> Document | None:
    try:
        stat = _stat(path)
        if seen is not None:
            seen[doc_id] = stat
        if known is not None and known.stat == stat:
            return known
        return read_within_limits(path, doc_id, max_bytes)
    except ExtractError as err:
        log.warning("skipping %s: %s", printable(doc_id), err)
    except OSError as err:  # vanished or unreadable between listing and reading
        log.warning("skipping %s: cannot read it (%s)", printable(doc_id), err.strerror or err)
    return None


def _stat(path: Path) -> tuple[int, int]:
    """(size, modification time in ns): what tells a file changed without reading it."""
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def read_within_limits(path: Path, doc_id: str, max_bytes: int | None = None) -> Document:
    """One document file, refused when its file or its text is over ``max_bytes``
    (max_document_bytes), or when it expands past what its size allows (a decompression bomb).

    Raises:
        ExtractError: Why the file is refused or cannot be read.
        OSError: It vanished or cannot be read.
    """
    stat = _stat(path)  # before reading: a change made while it is read shows next time
    if max_bytes is not None and stat[0] > max_bytes:
        raise TextLimitError(f"{stat[0]:,} bytes, over the {max_bytes:,}-byte limit (max_document_bytes)")
    return dataclasses.replace(_document(path, doc_id, max_bytes), stat=stat)


def _document(path: Path, doc_id: str, max_chars: int | None = None) -> Document:
    extracted = extract(path, max_chars)
    return Document(
        doc_id=doc_id,
        text=extracted.text,
        content_hash=content_hash(extracted.text),
        title=extracted.title,
        date=extracted.date,
        page_starts=extracted.page_starts,
    )
