"""Turn one document file (.txt, .md, .pdf, .html, .docx) into its text, a title and a date."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.errors import first_line
from rag.expansion import ExtractError, TextLimitError, check_unzipped_size, over_budget, work_budget
from rag.html_text import decode_html, html_date_candidates, html_text

DOCUMENT_SUFFIXES = (".txt", ".md", ".pdf", ".html", ".htm", ".docx")

_TITLE_MAX = 120

_ISO_DATE = re.compile(r"\s*[\"']?(\d{4}-\d{2}-\d{2})(?!\d)")
_DATELINE = re.compile(r"\A\ufeff?\s*dated?\s*:?\s*(\d{4}-\d{2}-\d{2})(?!\d)", re.IGNORECASE)
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")


@dataclass(frozen=True, slots=True)
class Extracted:
    """What a document file holds, ready to chunk and cite.

    Attributes:
        text: The document's text; every citation offset indexes this string.
        title: Never empty: falls back to the file name without its suffix.
        date: ISO "YYYY-MM-DD" when the document states one, else None.
        page_starts: PDFs only: offset in ``text`` where page 1, 2, ... start (the first is 0).
    """

    text: str
    title: str
    date: str | None
    page_starts: tuple[int, ...] = ()


def extract(path: Path, max_chars: int | None = None) -> Extracted:
    """Read one document file, choosing the reader by its suffix (case-insensitive).

    Args:
        max_chars: Refuse a file with more text than this (max_document_bytes), stopping as soon as
            it is passed; it also bounds how much a compressed file may expand (see EXPANSION).

    Returns:
        For .txt and .md, ``text`` is exactly ``open(path, encoding="utf-8").read()``.

    Raises:
        ExtractError: The file is unreadable, empty, of an unsupported type, or not what its suffix says.
    """
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        kind = path.suffix or "(no suffix)"
        raise ExtractError(f"unsupported file type {kind}; rag reads {', '.join(DOCUMENT_SUFFIXES)}")
    try:
        extracted = reader(path, max_chars)
    except (ExtractError, MemoryError, RecursionError):
        raise
    except OSError as err:
        raise ExtractError(f"cannot read it ({err.strerror or err})") from err
    except Exception as err:
        # (UnicodeError from a page declaring charset="idna", bs4.ParserRejectedMarkup, lxml, zipfile
        # errors): the file is skipped with a warning naming it; the cause stays chained.
        raise ExtractError(f"cannot parse it ({type(err).__name__}: {first_line(err, 200)})") from err
    if max_chars is not None and len(extracted.text) > max_chars:
        # A small file can hold a lot of text: the limit bounds what would be embedded, not only the file.
        raise TextLimitError(f"{len(extracted.text):,} characters of text, over the {max_chars:,} limit (max_document_bytes)")
    return extracted


def dateline_end(text: str) -> int:
    """Where a leading "date 2026-01-30" ends in a document's text (0 without one): it states the
    document's date and is read as such, not as part of its first sentence."""
    dateline = _DATELINE.match(text)
    return dateline.end() if dateline else 0


def _extract_text(path: Path, max_chars: int | None = None) -> Extracted:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise ExtractError("not valid UTF-8 text") from None
    if "\x00" in text:
        raise ExtractError("binary content, not text")
    _require_text(text)
    front = _FRONT_MATTER.match(text)
    fields = _front_matter_fields(front[1]) if front else {}
    body = text[front.end():] if front else text
    dateline = _DATELINE.match(body)
    if dateline:  # "date 2026-01-30 Seoul said..." states the date; the title is what follows it
        body = body[dateline.end():]
    date = _iso_date(fields.get("date", "")) or (_iso_date(dateline[1]) if dateline else None)
    lines = body.lstrip("\ufeff").splitlines()
    headings = (m[1] for m in map(_HEADING.match, lines[:20]) if m and m[1].strip())
    heading = next(headings, None) if path.suffix.lower() == ".md" else None
    title = fields.get("title", "").strip("\"' ") or heading or _first_line(lines)
    return Extracted(text, _title(title, path), date)


def _front_matter_fields(block: str) -> dict[str, str]:
    pairs = (line.split(":", 1) for line in block.splitlines() if ":" in line)
    return {key.strip().lower(): value.strip() for key, value in pairs}


def _extract_html(path: Path, max_chars: int | None = None) -> Extracted:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_html(path.read_bytes()), "html.parser")
    title_tag, h1 = soup.find("title"), soup.find("h1")
    title = (title_tag and title_tag.get_text().strip()) or (h1 and h1.get_text()) or ""
    date = next(filter(None, map(_iso_date, html_date_candidates(soup))), None)
    text = html_text(soup)
    _require_text(text)
    return Extracted(text, _title(title, path), date)


def _extract_pdf(path: Path, max_chars: int | None = None) -> Extracted:
    from pypdf import PdfReader

    # pypdf logs its own warnings about damaged files; rag names each skipped file once, itself.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    data = path.read_bytes()
    budget = work_budget(len(data), max_chars)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ValueError("it needs a password")
        pages, work, chars = [], 0, 0
        for page in reader.pages:
            # Each page's content is decompressed and counted before its text is extracted: pages
            # may share one stream (48 pages drawing the same one cost 48 times its work).
            contents = page.get_contents()
            work += len(contents.get_data()) if contents is not None else 0
            if work > budget:
                raise over_budget("pages", len(data), max_chars)
            pages.append(page.extract_text().rstrip())
            chars += len(pages[-1]) + 2
            if max_chars is not None and chars > max_chars:
                raise TextLimitError(f"more than {max_chars:,} characters of text by page {len(pages)}, "
                                     f"over the limit (max_document_bytes)")
        info: Mapping[str, object] = reader.metadata or {}
        meta_title, created = str(info.get("/Title") or ""), str(info.get("/CreationDate") or "")
    except TextLimitError:
        raise
    except Exception as err:  # pypdf raises many kinds of error (KeyError, ValueError...) on damaged files
        raise ExtractError(f"not a readable PDF ({err})") from err
    text = "\n\n".join(pages)
    if not text.strip():
        raise ExtractError("no text could be extracted (a scanned PDF?)")
    starts, offset = [], 0
    for page_text in pages:
        starts.append(offset)
        offset += len(page_text) + 2
    stamp = re.match(r"(?:D:)?(\d{4})(\d{2})(\d{2})", created)
    date = _iso_date("-".join(stamp.groups())) if stamp else None
    title = meta_title.strip() or _first_line(text.splitlines())
    return Extracted(text, _title(title, path), date, tuple(starts))


def _extract_docx(path: Path, max_chars: int | None = None) -> Extracted:
    import docx

    data = path.read_bytes()
    check_unzipped_size(data, max_chars)
    try:
        document = docx.Document(io.BytesIO(data))
        paragraphs = [(p.text, (p.style.name if p.style else "") or "") for p in document.paragraphs]
        rows = [" | ".join(cell.text for cell in row.cells) for table in document.tables for row in table.rows]
        core = document.core_properties
        meta_title, created = core.title or "", core.created
        if core.title == "Word Document" and core.last_modified_by == "python-docx":
            meta_title = ""  # no core.xml in the file: python-docx's stand-in, not the document's title
    except Exception as err:  # python-docx lets zipfile and lxml errors (BadZipFile, KeyError...) through
        raise ExtractError(f"not a readable DOCX ({err})") from err
    text = "\n".join([p for p, _ in paragraphs] + rows)
    _require_text(text)
    styled = (p for p, style in paragraphs if p.strip() and style.startswith(("Heading", "Title")))
    title = meta_title.strip() or next(styled, None) or _first_line(text.splitlines())
    date = created.date().isoformat() if isinstance(created, dt.datetime) else None
    return Extracted(text, _title(title, path), date)


def _require_text(text: str) -> None:
    if not text.strip():
        raise ExtractError("empty document")


def _iso_date(value: str) -> str | None:
    match = _ISO_DATE.match(value)
    try:
        return dt.date.fromisoformat(match[1]).isoformat() if match else None
    except ValueError:  # 2026-02-30 looks like a date but is none
        return None


def _first_line(lines: Sequence[str]) -> str:
    return next((line for line in lines if line.strip()), "")


def _title(candidate: str, path: Path) -> str:
    title = " ".join(candidate.replace("\ufeff", " ").split())
    if len(title) > _TITLE_MAX:  # cut at a word boundary so the title never ends in half a word
        head = title[:_TITLE_MAX]
        head = head.rsplit(" ", 1)[0] if " " in head else head[:-1]
        title = head.rstrip(" ,;:") + "…"
    return title or path.stem or path.name


_READERS: dict[str, Callable[[Path, int | None], Extracted]] = {
    ".txt": _extract_text, ".md": _extract_text, ".pdf": _extract_pdf,
    ".html": _extract_html, ".htm": _extract_html, ".docx": _extract_docx,
}
