"""The evaluation's own error: rag's CLI reports it like any RagError, in one line."""

from rag.errors import RagError


class GoldFileError(RagError):
    """A gold question, floors or results file is missing or malformed."""
