"""rag: local, offline question answering over a folder of documents, with cited extractive answers.

    from rag import Pipeline
    qa = Pipeline.from_folder("seeds")
    answer = qa.ask("Where did the two defense ministers meet?")
    print(answer.text or "The documents don't say.")
    for c in answer.citations:
        print(c.doc_id, c.start, c.end, repr(c.quote))
"""

from rag.config import Config, load_config
from rag.errors import (
    ConfigError,
    CorpusError,
    CorruptIndexError,
    GoldFileError,
    IndexBusyError,
    ModelMissingError,
    NotAnIndexError,
    QuestionError,
    RagError,
    StaleIndexError,
)
from rag.pipeline import Pipeline
from rag.store import UpdateReport
from rag.types import Answer, Chunk, Citation, Document, Hit

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "Config",
    "ConfigError",
    "CorpusError",
    "CorruptIndexError",
    "Document",
    "GoldFileError",
    "IndexBusyError",
    "Hit",
    "ModelMissingError",
    "NotAnIndexError",
    "Pipeline",
    "QuestionError",
    "RagError",
    "StaleIndexError",
    "UpdateReport",
    "load_config",
]
