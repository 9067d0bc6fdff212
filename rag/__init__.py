"""rag: local, offline question answering over a folder of documents, with cited extractive answers.

    from rag import Pipeline
    qa = Pipeline.from_folder("seeds")
    answer = qa.ask("Where did the two defense ministers meet?")
    print(answer.text or "The documents don't say.")
    for c in answer.citations:
        print(c.doc_id, c.start, c.end, repr(c.quote))
"""

from rag.config import Config, load_config
from rag.conversation import Conversation
from rag.errors import (
    ConfigError,
    CorpusError,
    CorruptIndexError,
    GoldFileError,
    IndexBusyError,
    IndexFolderError,
    ModelMissingError,
    NotAnIndexError,
    QuestionError,
    RagError,
    StaleIndexError,
)
from rag.extract import ExtractError
from rag.pipeline import Pipeline
from rag.store import IndexStatus, UpdateReport
from rag.types import Alternative, Answer, Chunk, Citation, Document, DocumentInfo, Hit
from rag.uploads import UploadExistsError

__version__ = "0.1.0"

__all__ = [
    "Alternative",
    "Answer",
    "Chunk",
    "Citation",
    "Config",
    "ConfigError",
    "Conversation",
    "CorpusError",
    "CorruptIndexError",
    "Document",
    "DocumentInfo",
    "ExtractError",
    "GoldFileError",
    "Hit",
    "IndexBusyError",
    "IndexFolderError",
    "IndexStatus",
    "ModelMissingError",
    "NotAnIndexError",
    "Pipeline",
    "QuestionError",
    "RagError",
    "StaleIndexError",
    "UpdateReport",
    "UploadExistsError",
    "load_config",
]
