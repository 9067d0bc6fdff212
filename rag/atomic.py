"""Write a file so that readers see the old content or the new, never a part: the one way rag writes files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, content: str | bytes, mode: int | None = None) -> Path:
    """Write ``content`` to a hidden temporary file beside ``path``, flush it to disk, then rename it
    over ``path``. A failure leaves ``path`` as it was and no temporary file behind.

    Text is written as UTF-8 bytes, with no newline translation on any platform. ``mode`` is the new
    file's permission; by default a replaced file keeps its own and a new one gets 0644 (a temporary
    file would otherwise leave it private, 0600). Dot-prefixed
    temporary names are skipped by rag's corpus loader, so indexing never reads half a file.
    """
    path = Path(path)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
    data = content.encode("utf-8") if isinstance(content, str) else content
    folder = path.parent if str(path.parent) else Path(".")
    # The temporary name adds ~14 bytes to the file's: its first 64 bytes are plenty to tell temporary
    # files apart, and a name near the 255-byte limit still gets a temporary one.
    stem = os.fsdecode(os.fsencode(path.name)[:64])
    with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{stem}.", suffix=".tmp", delete=False) as f:
        try:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.chmod(f.name, mode)
        except BaseException:
            f.close()
            os.unlink(f.name)
            raise
    try:
        os.replace(f.name, path)
    except BaseException:
        os.unlink(f.name)
        raise
    return path
