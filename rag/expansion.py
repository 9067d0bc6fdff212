"""How much text and work a document may cost: the errors that refuse one, and the budget that bounds
how far a compressed format (DOCX, PDF) may expand before and while it is parsed."""

from __future__ import annotations

import io
import zipfile

from rag.errors import CorpusError

# A compressed format (DOCX is zipped XML, a PDF's page content is deflated) can hold far more than
# its size on disk: a 6 KB PDF held 9.4 M characters, a 1 MB DOCX took 2.5 GB and 50 s to parse. Its
# work is bounded before and while it is parsed, twice: by the file's size (at most EXPANSION bytes
# of XML or page content per byte of file; real documents stay near 10, bombs reach hundreds), and
# by the text limit (at most WORK_PER_CHARACTER bytes per character of max_document_bytes).
EXPANSION = 100
WORK_PER_CHARACTER = 4


class ExtractError(CorpusError):
    """A document file cannot be turned into text; the message says why."""


class TextLimitError(ExtractError):
    """A document holds, or would expand to, more than rag's limits allow."""


def work_budget(size: int, max_chars: int | None) -> int:
    """How many bytes of XML or page content a compressed file of ``size`` bytes may expand to."""
    budget = EXPANSION * max(size, 1)
    return budget if max_chars is None else min(budget, WORK_PER_CHARACTER * max_chars)


def over_budget(what: str, size: int, max_chars: int | None) -> TextLimitError:
    return TextLimitError(
        f"its {what} expand to more than {work_budget(size, max_chars):,} bytes from {size:,} on disk "
        f"(a decompression bomb?); rag reads at most {EXPANSION}× a file's size"
        + (f" and {WORK_PER_CHARACTER}× max_document_bytes ({max_chars:,})" if max_chars is not None else "")
    )


def check_unzipped_size(data: bytes, max_chars: int | None) -> None:
    """Refuse a zip whose entries expand past the work budget, from its directory alone (nothing is
    decompressed). The sizes it declares hold: zipfile stops each entry at its declared size and
    checks its CRC, so an entry that lies about its size fails to read."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unzipped = sum(entry.file_size for entry in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        raise ExtractError(f"not a readable DOCX ({err})") from err
    if unzipped > work_budget(len(data), max_chars):
        raise over_budget("parts", len(data), max_chars)
