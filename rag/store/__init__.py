"""Where the passages are kept: an index folder on disk, and the store that holds its passages.

Modules, dependencies pointing down only::

    sync.py, status.py    keep a folder in step with the corpus; report on it
    faiss_store.py        FAISS + BM25 in segments that builds share (the default)
    segment.py            one segment: passages, vectors and terms, written once
    milvus_store.py       a Milvus collection (Lite file or server; optional extra)
    milvus_client.py      connecting to Milvus, the collection schema
    folder.py             the index folder: marker, lock, builds, CURRENT pointer, PENDING
    settings.py           how a config names a store, in manifests and messages
    base.py               Manifest, and the PassageStore / StoreWriter protocols
"""

from rag.store.base import FORMAT_VERSION, Manifest, PassageStore, StoreWriter
from rag.store.faiss_store import FaissStore
from rag.store.status import IndexStatus, index_status
from rag.store.sync import UpdateReport, load_index, sync_index

__all__ = [
    "FORMAT_VERSION", "FaissStore", "IndexStatus", "Manifest", "PassageStore", "StoreWriter", "UpdateReport",
    "index_status", "load_index", "sync_index",
]
