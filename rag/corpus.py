"""Read a folder of documents: every .txt and .md file under it, recursively, in sorted order."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from rag.errors import CorpusError
from rag.types import Document

log = logging.getLogger(__name__)

DOCUMENT_SUFFIXES = (".txt", ".md")


def load_corpus(folder: Path) -> list[Document]:
    """Load every readable document under a folder.

    A file that is not valid UTF-8 text, or is empty, is skipped with a warning naming it.

    Returns:
        Documents sorted by id; a document's id is its path relative to ``folder`` with "/".

    Raises:
        CorpusError: The folder is missing, or holds no readable document.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} does not exist; pass --corpus DIR with a folder of .txt/.md files")
    documents = []
    for path in _document_paths(folder):
        doc_id = path.relative_to(folder).as_posix()
        text = _read_text(path, doc_id)
        if text is not None:
            documents.append(Document(doc_id=doc_id, text=text, content_hash=content_hash(text)))
    if not documents:
        raise CorpusError(f"corpus folder {folder} holds no readable .txt or .md document")
    return documents


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _document_paths(folder: Path) -> list[Path]:
    paths = (p for p in folder.rglob("*") if p.suffix.lower() in DOCUMENT_SUFFIXES and p.is_file())
    # Hidden files and folders (.git, editor swap files) are not documents.
    visible = [p for p in paths if not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    return sorted(visible, key=lambda p: p.relative_to(folder).as_posix())


def _read_text(path: Path, doc_id: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        log.warning("skipping %s: not valid UTF-8 text", doc_id)
        return None
    except OSError as err:
        log.warning("skipping %s: cannot read it (%s)", doc_id, err.strerror or err)
        return None
    if "\x00" in text:
        log.warning("skipping %s: binary content, not text", doc_id)
        return None
    if not text.strip():
        log.warning("skipping %s: empty document", doc_id)
        return None
    return text
