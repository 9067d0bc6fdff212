"""The evaluation's own error, defined with rag's others (so ``from rag import GoldFileError`` works
without importing the eval package): rag's CLI reports it like any RagError, in one line."""

from rag.errors import GoldFileError

__all__ = ["GoldFileError"]
