"""Documents people add through the web chat or ``Pipeline.add_document``: checked, saved atomically
into the uploads folder, listed and removed there. rag only ever deletes files in that folder, which
holds nothing but what it saved."""

from __future__ import annotations

import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.atomic import write_atomic
from rag.config import Config
from rag.errors import CorpusError
from rag.extract import DOCUMENT_SUFFIXES, ExtractError, extract

# Uploads take every type the corpus reads; text is checked from its bytes, the other types by
# extracting them before anything is written.
UPLOAD_SUFFIXES = DOCUMENT_SUFFIXES
_TEXT_SUFFIXES = (".txt", ".md")


class UploadExistsError(CorpusError):
    """An upload of that name is there already and replacing it was not asked for."""


@contextmanager
def saved_upload(config: Config, name: str, data: bytes, replace: bool = True) -> Iterator[Path]:
    """Check and save an upload (taken in Unicode NFC) into ``config.uploads_folder`` for the body to
    index; if the body fails, the uploads folder is left as it was (the file removed, or the one it
    replaced put back), so one bad upload cannot stop every later index, ask or serve.

    Raises:
        CorpusError: As :func:`save_document`, or the corpus has a document of the same id.
    """
    # One name, one document: "é.txt" typed on macOS (NFD) and on Linux (NFC) look the same.
    name = unicodedata.normalize("NFC", name)
    check_upload_name(name)
    clash = config.corpus_dir / "uploads" / name
    if clash.is_file():  # decided before anything is written
        raise CorpusError(f"refused {name}: the corpus already has a document 'uploads/{name}'; rename the upload")
    target = config.uploads_folder / name
    previous = target.read_bytes() if target.is_file() else None
    saved = save_document(config.uploads_folder, name, data, config.max_upload_bytes, replace,
                          max_text=config.max_document_bytes)
    try:
        yield saved
    except BaseException:
        if previous is None:
            saved.unlink(missing_ok=True)
        else:
            write_atomic(saved, previous)
        raise


def save_document(
    folder: Path, name: str, data: bytes, max_bytes: int, replace: bool = True, max_text: int | None = None
) -> Path:
    """Check an uploaded file and write it into ``folder`` atomically; a refused file writes nothing.

    Raises:
        UploadExistsError: ``replace`` is False and ``folder`` has a file of that name.
        CorpusError: The name is not a plain file name of a type rag reads (no folders, no "..", not
            hidden), the file is over ``max_bytes``, text is not UTF-8 or has nothing in it, or a PDF,
            HTML or DOCX file cannot be read as one; or its text is over ``max_text`` characters
            (max_document_bytes), or it expands past what its size allows. The indexer would skip
            such a file: it is refused here instead, so the upload is never reported as added.
    """
    check_upload_name(name)
    folder = Path(folder)
    if not replace and (folder / name).exists():
        raise UploadExistsError(f"uploads/{name} exists already")
    if len(data) > max_bytes:
        raise CorpusError(f"{name} is {len(data):,} bytes; the limit is {max_bytes:,} (max_upload_bytes)")
    if Path(name).suffix.lower() in _TEXT_SUFFIXES:
        _check_text(name, data, max_text)
    else:
        _check_extracts(name, data, max_text)
    folder.mkdir(parents=True, exist_ok=True)
    return write_atomic(folder / name, data)


def check_upload_name(name: str) -> None:
    """Refuse a name that is not a plain file name of a type rag reads, saying what is wrong with it."""
    shown = repr(name)
    if not name:
        raise CorpusError("refused file name '': the file has no name")
    if "/" in name or "\\" in name or name in (".", "..") or name != Path(name).name:
        raise CorpusError(f"refused file name {shown}: it names a folder ('/', '\\' or '..'); "
                          "upload the file under a plain name such as notes.md")
    if name.startswith("."):
        raise CorpusError(f"refused file name {shown}: a name that starts with a dot is a hidden file; "
                          "rename it without the leading dot")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise CorpusError(f"refused file name {shown}: it holds control characters (tabs, newlines, NUL)")
    if len(name.encode("utf-8")) > 255:
        raise CorpusError(f"refused file name {name[:40]!r}…: longer than 255 bytes")
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        kind = f"a {suffix} file" if suffix else "a file without a type (.txt, .md …)"
        raise CorpusError(f"refused {name}: it is {kind}; rag reads {', '.join(UPLOAD_SUFFIXES)}")


def list_uploads(folder: Path) -> list[str]:
    """The names of the uploaded documents, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in UPLOAD_SUFFIXES)


def remove_upload(folder: Path, name: str) -> Path:
    """Delete one uploaded document from ``folder``; returns its path.

    Raises:
        CorpusError: The name is not a plain upload name, or there is no such upload.
    """
    check_upload_name(name)
    path = Path(folder) / name
    if not path.is_file():
        raise CorpusError(f"there is no uploaded document uploads/{name}")
    path.unlink()
    return path


def _check_text(name: str, data: bytes, max_text: int | None) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CorpusError(f"{name} is not UTF-8 text") from None
    if "\x00" in text:
        raise CorpusError(f"{name} has binary content, not text")
    if not text.strip():
        raise CorpusError(f"{name} is empty")
    if max_text is not None and len(data) > max_text:  # as the indexer counts a text file: by its bytes
        raise CorpusError(f"refused {name}: {len(data):,} bytes, over the {max_text:,}-byte limit (max_document_bytes)")


def _check_extracts(name: str, data: bytes, max_text: int | None) -> None:
    """Read a PDF, HTML or DOCX upload as the corpus will, from a private temporary copy."""
    with tempfile.TemporaryDirectory(prefix="rag-upload-") as scratch:
        copy = Path(scratch) / name
        copy.write_bytes(data)
        try:
            extract(copy, max_text)
        except ExtractError as err:
            raise CorpusError(f"refused {name}: {err}") from None
