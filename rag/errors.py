"""The errors rag raises on purpose. Front ends show their message; anything else is a bug."""


class RagError(Exception):
    """Base class for every error rag raises on purpose."""


class ConfigError(RagError):
    """The configuration file or a setting in it is unusable."""


class CorpusError(RagError):
    """The corpus folder is missing, empty, or holds no readable document."""


class GoldFileError(RagError):
    """A gold question, floors or results file is missing or malformed (``rag eval``)."""


class QuestionError(RagError):
    """The question is empty or not text."""


class IndexFolderError(RagError):
    """Base class for problems with the index folder."""


class NotAnIndexError(IndexFolderError):
    """The index folder holds other files: rag refuses to write into it."""


class CorruptIndexError(IndexFolderError):
    """The index on disk is damaged or incomplete."""


class StaleIndexError(IndexFolderError):
    """The index was built with another embedder or other chunker settings."""


class IndexBusyError(IndexFolderError):
    """Another process is writing the index right now."""


class ModelMissingError(RagError):
    """A model is not on this machine (and rag never downloads one)."""


def first_line(err: BaseException, limit: int = 300) -> str:
    """An exception's message as one line for a user-facing error (its type when it has none)."""
    return (str(err).splitlines() or [type(err).__name__])[0][:limit]
