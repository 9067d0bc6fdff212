"""What `rag status` reports: the index on disk against the corpus as it is now, with no model loaded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.config import Config
from rag.model_paths import embedder_location
from rag.store.folder import IndexFolder
from rag.store.settings import check_compatible, read_manifest
from rag.store.sync import open_build
from rag.types import Document


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """The index folder's current build compared with the corpus."""

    index_dir: str
    built: bool
    embed_model: str | None = None
    documents: int = 0
    passages: int = 0
    built_at: str | None = None
    added: tuple[str, ...] = ()  # in the corpus, not in the index
    changed: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()  # in the index, gone from the corpus
    store: str = "faiss"  # where the passages are: "faiss" or "milvus"

    @property
    def up_to_date(self) -> bool:
        return self.built and not (self.added or self.changed or self.deleted)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index_dir, "built": self.built, "embed_model": self.embed_model, "documents": self.documents,
            "passages": self.passages, "built_at": self.built_at, "up_to_date": self.up_to_date,
            "added": list(self.added), "changed": list(self.changed), "deleted": list(self.deleted),
            "store": self.store,
        }


def index_status(config: Config, documents: list[Document]) -> IndexStatus:
    """Check the current build and compare its manifest with ``documents``.

    Raises:
        NotAnIndexError, StaleIndexError, CorruptIndexError: The folder is not a usable index.
    """
    folder = IndexFolder(Path(config.index_dir))
    folder.refuse_foreign()

    def read(build: Path) -> IndexStatus:
        manifest = read_manifest(build, config)
        check_compatible(manifest, config, embedder_location(config.embed_model)[0])
        open_build(build, manifest, config)  # damaged parts are an error here too, not a status line
        interrupted = folder.pending()
        now = {d.doc_id: d.content_hash for d in documents}
        return IndexStatus(
            str(folder.path), True, manifest.embed_model, len(manifest.documents), manifest.passages, manifest.built_at,
            added=tuple(sorted(set(now) - set(manifest.documents))),
            changed=tuple(sorted(d for d in now if d in manifest.documents and (manifest.documents[d] != now[d] or d in interrupted))),
            deleted=tuple(sorted(set(manifest.documents) - set(now))),
            store=manifest.store.get("kind", "faiss"),
        )

    # While `rag index` replaces the build, this reads the old one or the new one, never "damaged".
    status = folder.read_current(read)
    if status is None:
        return IndexStatus(str(folder.path), built=False, added=tuple(d.doc_id for d in documents), store=config.store)
    return status
