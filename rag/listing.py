"""Which files of a folder are documents: every .txt, .md, .pdf, .html and .docx file under it,
recursively, not hidden, with a UTF-8 name, and (links followed) inside the folder."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from rag.extract import DOCUMENT_SUFFIXES
from rag.text import printable

log = logging.getLogger("rag.corpus")


def document_paths(folder: Path, warn: bool = True) -> list[tuple[str, Path]]:
    """The document files under ``folder`` as (path relative to it with "/", path), sorted; each one
    skipped is named in a warning (unless not ``warn``: a scan that only looks for changes says nothing).

    Walked with os.scandir and plain strings: pathlib's rglob and relative_to cost 0.6 s of every
    question at 10,000 files.
    """
    def skip(message: str, *args: object) -> bool:
        if warn:
            log.warning(message, *args)
        return False

    found = []
    pending = [("", str(folder))]
    while pending:
        prefix, directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue  # unreadable or vanished: its files cannot be documents
        for entry in entries:
            # Hidden files and folders (.git, editor swap files) are not documents.
            if entry.name.startswith("."):
                continue
            relative = prefix + entry.name
            # Linked folders are not entered: a link could lead outside the corpus, or in a loop.
            if entry.is_dir(follow_symlinks=False):
                pending.append((relative + "/", entry.path))
            elif os.path.splitext(entry.name)[1].lower() in DOCUMENT_SUFFIXES:
                found.append((relative, entry.path, entry.is_file(follow_symlinks=False)))
    documents = []
    for relative, name, plain_file in found:
        path = Path(name)
        if plain_file:  # the common case, told by scandir without another system call
            if _utf8_name(relative, skip):
                documents.append((relative, path))
        elif path.is_symlink() and not path.exists():
            skip("skipping %s: cannot follow it (a link to %s, which does not exist)", printable(relative), os.readlink(path))
        elif path.is_file() and _utf8_name(relative, skip) and _inside(path, relative, folder, skip):
            documents.append((relative, path))
    return sorted(documents)


def _utf8_name(relative: str, skip: Callable[..., bool]) -> bool:
    """Whether the file's path is valid UTF-8: a document id is shown, cited and stored as text."""
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes arrive as lone surrogates (surrogateescape)
        shown = relative.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return skip("skipping %s: its name is not valid UTF-8; rename the file", shown)
    return True


def _inside(path: Path, relative: str, folder: Path, skip: Callable[..., bool]) -> bool:
    """Whether the file, links followed, is inside the corpus folder: a link to a file elsewhere
    (``ln -s /etc/passwd notes.txt``) would put that file's text in the index and the answers.

    Linked folders are not entered, so only the file itself can be a link: a plain file
    is inside without resolving its path (which cost ~0.1 ms a file, 2.4 s of a question at 10k files).
    """
    if not path.is_symlink():
        return True
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as err:  # a broken link or a loop
        return skip("skipping %s: cannot follow it (%s)", printable(relative),
                    getattr(err, "strerror", None) or err)
    if real.is_relative_to(folder.resolve()):
        return True
    return skip("skipping %s: it links to %s, outside the corpus folder", printable(relative), real)
