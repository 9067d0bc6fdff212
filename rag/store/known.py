"""Which corpus files the index has already read, by their size and modification time: a question
in a new process, `rag status` and an update read only the files that changed, not the whole corpus.

Like git's index and make, rag trusts a file whose size and modification time (ns) are those it
recorded when it last read it. `rag index --rehash` reads every file again. A file modified within
a couple of seconds of being read is not recorded (its mtime may not have moved yet: "racy git"),
so it is read again next time.
"""

from __future__ import annotations

from pathlib import Path

from rag.config import Config
from rag.errors import IndexFolderError
from rag.store.folder import IndexFolder
from rag.store.settings import read_manifest
from rag.types import Document

# A file whose mtime is this close to the moment the corpus was scanned may change again within the
# file system's timestamp granularity without its mtime moving: it is not trusted.
_RACY_NS = 2_000_000_000


def known_documents(config: Config) -> dict[str, Document]:
    """The documents of the current build whose file states are recorded, as ``unread`` documents
    (no text) carrying the recorded ``stat``; {} when there is no build or no record."""
    folder = IndexFolder(Path(config.index_dir))
    states = folder.file_states()
    if not states:
        return {}
    try:
        build = folder.current_build()
        manifest = read_manifest(build, config) if build is not None else None
    except IndexFolderError:
        return {}  # damaged or foreign: the update that follows says so
    pending = folder.pending()
    if manifest is None or "*" in pending:
        return {}
    known = {}
    for doc_id, (size, mtime_ns, content_hash) in states.items():
        if manifest.documents.get(doc_id) == content_hash and doc_id not in pending:
            info = manifest.info(doc_id)
            known[doc_id] = Document(doc_id, "", content_hash, info.title, info.date, info.page_starts,
                                     stat=(size, mtime_ns), unread=True)
    return known


def record_file_states(config: Config, documents: list[Document], scanned_at_ns: int) -> None:
    """Record the state of each document's file as the index now holds it (after an update)."""
    states = {
        d.doc_id: (d.stat[0], d.stat[1], d.content_hash)
        for d in documents
        if d.stat is not None and d.stat[1] < scanned_at_ns - _RACY_NS
    }
    IndexFolder(Path(config.index_dir)).write_file_states(states)
