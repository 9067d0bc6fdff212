"""Keep a long-running pipeline (the web chat) in step with its corpus folder: every few seconds a scan
of file sizes and modification times; when a file was added, changed or removed, the index is
updated in the background while questions keep being answered from the current build (without the
changed files' passages: their offsets index the old text)."""

from __future__ import annotations

import logging
import threading

from rag.errors import RagError
from rag.pipeline import Pipeline

log = logging.getLogger(__name__)


class CorpusWatcher:
    """A daemon thread that updates ``pipeline``'s index when its corpus changes.

    A question that meets a changed file wakes it at once (``Pipeline.on_stale``); otherwise it
    looks every ``interval`` seconds. Each update is announced once through :meth:`take_notice`.
    """

    def __init__(self, pipeline: Pipeline, interval: float) -> None:
        self._pipeline = pipeline
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._notices: list[str] = []
        self._notices_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="rag-corpus-watcher", daemon=True)

    def start(self) -> CorpusWatcher:
        self._pipeline.on_stale = lambda _changed: self._wake.set()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self._pipeline.on_stale = None

    def take_notice(self) -> str | None:
        """What the last updates changed ("index updated: 2 documents changed"), once; else None."""
        with self._notices_lock:
            notices, self._notices = self._notices, []
        return "; ".join(notices) or None

    def check_now(self) -> bool:
        """Scan once and update the index if the corpus changed; whether it did."""
        if not self._pipeline.changed_files():
            return False
        try:
            report = self._pipeline.index()
        except RagError as err:  # busy (rag index runs), or a file that cannot be read: try again later
            log.warning("the corpus changed, but the index could not be updated yet: %s", err)
            return False
        changed = len(report.added) + len(report.changed) + len(report.deleted)
        if changed:
            notice = f"index updated: {changed} document{'s' if changed != 1 else ''} changed"
            log.info("%s (%s)", notice, ", ".join([*report.added, *report.changed, *report.deleted][:5]))
            with self._notices_lock:
                self._notices.append(notice)
        return bool(changed)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.check_now()
            except Exception:
                log.exception("checking the corpus for changes failed; trying again in %.0f s", self._interval)
