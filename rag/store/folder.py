"""The index folder on disk: rag's marker, the write lock, builds, the pointer to the current one.

Layout of an index folder::

    .rag-index          marker: this folder belongs to rag (written before anything else)
    .lock               the OS file lock a writer holds (with its pid, for the message to others)
    CURRENT             the name of the complete build to load, replaced last with os.replace
    build-<stamp>/      manifest.json (written last), and the store's files (FAISS: segments.json;
                        Milvus: none, the passages are in the collection)
    segments/seg-<hex>/ FAISS: passages, vectors and terms, each written once and shared by builds
    milvus.db           the Milvus Lite file, when store = "milvus" and store_uri is ""
    PENDING             Milvus only: the documents an unfinished update was changing

A build that is interrupted leaves a folder that CURRENT never names, so it is never loaded. Milvus
applies each change at once, so PENDING names the documents to redo if an update is interrupted.
Nothing here knows what a store holds: the sync (rag/store/sync.py) decides what goes in a build.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from rag.atomic import write_atomic
from rag.errors import CorruptIndexError, IndexBusyError, NotAnIndexError
from rag.store.base import FORMAT_VERSION, Manifest
from rag.store.segment import SEGMENTS, is_own_segment

T = TypeVar("T")

# How many builds a loader tries when each one it reads is replaced (and removed) under it.
_RACE_RETRIES = 5

MARKER = ".rag-index"
POINTER = "CURRENT"
MANIFEST = "manifest.json"
LOCK = ".lock"
PENDING = "PENDING"
# Each indexed file's size, modification time (ns) and content hash when rag last read it: a file
# whose size and mtime are unchanged is not read again (rag/corpus.py). A cache beside the builds,
# not part of one: a touched file with the same content updates it without a new build.
FILES = "files.json"
BUILD_PREFIX = "build-"
# Written into every build folder rag makes, first; with the name pattern it is how rag knows a
# folder is its own build. rag removes no other folder, whatever its name.
BUILD_MARKER = ".rag-build"
_BUILD_NAME = re.compile(r"build-\d{8}T\d{6}-[0-9a-f]{8}")
_BUILD_PARTS = {"segments.json", "passages.jsonl", "dense.faiss", "bm25"}  # what FAISS builds hold, and held


class IndexFolder:
    """One index folder; every path rag writes in it comes from here."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"IndexFolder({str(self.path)!r})"

    def refuse_foreign(self) -> None:
        """Refuse a file, or a non-empty folder without rag's marker: rag never writes into either."""
        if self.path.exists() and not self.path.is_dir():
            raise NotAnIndexError(f"{self.path} is a file, not an index folder; pass --index with a new or empty folder")
        # Another rag may be claiming the folder this instant: its marker's temporary file is there
        # before the marker itself. That folder is rag's; it is not foreign.
        claiming = f".{MARKER}."
        names = [p.name for p in self.path.iterdir()] if self.path.is_dir() else []
        if any(not (n.startswith(claiming) and n.endswith(".tmp")) for n in names) and not (self.path / MARKER).is_file():
            raise NotAnIndexError(
                f"{self.path} is not empty and is not a rag index; rag will not write into it. "
                "Pass --index with a new or empty folder"
            )

    def claim(self) -> None:
        """Make the folder (if needed) and mark it as rag's, before anything else is written."""
        self.refuse_foreign()
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path / MARKER, json.dumps({"format_version": FORMAT_VERSION}) + "\n")

    def is_empty(self) -> bool:
        return not self.path.exists() or not any(self.path.iterdir())

    def has_builds(self) -> bool:
        """Whether a build was ever published here or an update is under way (so what the store
        holds was written by this folder's updates)."""
        return (self.path / POINTER).exists() or (self.path / PENDING).exists()

    def current_build(self) -> Path | None:
        """The build CURRENT names, or None when no build finished yet.

        Raises:
            CorruptIndexError: CURRENT is not the name of a build (a hand edit, stray bytes).
        """
        pointer = self.path / POINTER
        if not pointer.is_file():
            return None
        try:
            name = pointer.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError:
            name = None
        if name is None or _BUILD_NAME.fullmatch(name) is None:  # also: nothing like "../elsewhere"
            raise CorruptIndexError(f"the index in {self.path} is damaged ({POINTER} does not name a build); "
                                    f"rebuild it with: rag index --rebuild --index {self.path}")
        return self.path / name

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the folder's write lock; a second writer is refused at once, with a message.

        The lock is an OS file lock (released even if the holder is killed), not the file's existence.
        """
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here; concurrent writers are the user's to avoid
            yield
            return
        with open(self.path / LOCK, "a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise IndexBusyError(
                    f"the index in {self.path} is being updated by {holder}; wait for it to finish, then run rag index again"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"rag (pid {os.getpid()})\n")
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)

    def new_build(self) -> Path:
        """A new, empty build folder that CURRENT does not name (yet)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        build = self.path / f"{BUILD_PREFIX}{stamp}-{uuid.uuid4().hex[:8]}"
        build.mkdir()
        try:
            (build / BUILD_MARKER).write_text(f"rag (pid {os.getpid()})\n", encoding="utf-8")
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        return build

    def discard_unpublished(self, build: Path) -> None:
        """Remove a build this process made and could not finish; never the one CURRENT names."""
        try:
            current = self.current_build()
        except CorruptIndexError:
            current = None
        if build != current and self.is_own_build(build):
            shutil.rmtree(build, ignore_errors=True)

    def read_current(self, read: Callable[[Path], T]) -> T | None:
        """``read`` of the current build, or None when there is none yet (or claimed but no build
        finished).

        Another process may publish a new build and remove this one while it is being read: then the
        new one is read instead, so every reader gets the old build or the new one, never "damaged".
        Damage that stays (the build is still current) is raised.
        """
        build = None if self.is_empty() else self.current_build()
        for _ in range(_RACE_RETRIES):
            if build is None:
                return None
            try:
                return read(build)
            except CorruptIndexError:
                now = self.current_build()
                if now == build:
                    raise
                build = now
        raise CorruptIndexError(f"the index in {self.path} changed {_RACE_RETRIES} times while it was being loaded; try again")

    def is_own_build(self, folder: Path) -> bool:
        """Whether rag made this folder as a build: its name has rag's pattern, and it holds rag's
        build marker, or (from rag before the marker existed) a manifest, or nothing but the files
        a build is made of (a build killed half-way)."""
        if not folder.is_dir() or folder.is_symlink() or _BUILD_NAME.fullmatch(folder.name) is None:
            return False
        names = {p.name for p in folder.iterdir()}
        if BUILD_MARKER in names or MANIFEST in names:
            return True
        return all(n in _BUILD_PARTS or (n.startswith(".") and n.endswith(".tmp")) for n in names)

    def publish(self, build: Path, manifest: Manifest) -> None:
        """Write the build's manifest, then point CURRENT at it, then drop the older builds.

        The manifest is written last within the build, and the pointer after it: a reader sees the
        old complete build or the new one, never a half-written one.
        """
        write_atomic(build / MANIFEST, json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n")
        write_atomic(self.path / POINTER, build.name + "\n")
        (self.path / PENDING).unlink(missing_ok=True)
        for old in self.path.glob(f"{BUILD_PREFIX}*"):
            if old.name != build.name and self.is_own_build(old):
                shutil.rmtree(old, ignore_errors=True)

    def remove_segments_except(self, keep: set[str]) -> None:
        """Remove rag's segments that the current build does not name (merged away, or left by an
        interrupted update). A process still answering from an older build keeps reading its
        segments' open files."""
        for old in (self.path / SEGMENTS).glob("seg-*"):
            if old.name not in keep and is_own_segment(old):
                shutil.rmtree(old, ignore_errors=True)

    def file_states(self) -> dict[str, tuple[int, int, str]]:
        """doc_id -> (size, mtime_ns, content_hash) as recorded; {} when none is, or it is unreadable
        (then every file is read again, which is always safe)."""
        try:
            data = json.loads((self.path / FILES).read_text(encoding="utf-8"))
            return {str(k): (int(v[0]), int(v[1]), str(v[2])) for k, v in data.items()}
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
            return {}

    def write_file_states(self, states: dict[str, tuple[int, int, str]]) -> None:
        """Record the file states (atomically); a folder rag cannot write (a read-only replica) keeps
        the old record, which only means more files are read next time."""
        if states == self.file_states():
            return
        with contextlib.suppress(OSError):
            write_atomic(self.path / FILES, json.dumps({k: list(v) for k, v in sorted(states.items())}) + "\n")

    def pending(self) -> set[str]:
        """The documents an interrupted Milvus update was changing (empty when none was; "*": all)."""
        try:
            return set(json.loads((self.path / PENDING).read_text(encoding="utf-8")))
        except FileNotFoundError:
            return set()
        except (OSError, ValueError, TypeError):
            return {"*"}  # unreadable: redo everything

    def mark_pending(self, doc_ids: set[str]) -> None:
        """Record, before a store that changes in place (Milvus) changes anything, which documents
        it will touch. FAISS needs no record: its changes stay in an unpublished build."""
        write_atomic(self.path / PENDING, json.dumps(sorted(doc_ids | self.pending())) + "\n")
