"""Turn passages and questions into normalised vectors with sentence-transformers."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from rag.config import Config
from rag.model_paths import embedder_location, go_offline, missing_model_error

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

# Below this many texts a progress bar is noise.
_PROGRESS_BAR_MIN_TEXTS = 64


class Embedder(Protocol):
    name: str

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]: ...


class SentenceTransformerEmbedder:
    """Embeds texts with a sentence-transformers model, loaded on first use."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self.name, self._location = embedder_location(config.embed_model)

    @cached_property
    def model(self) -> SentenceTransformer:
        go_offline()
        from sentence_transformers import (
            SentenceTransformer,  # slow import, pay on first use
        )

        try:
            return SentenceTransformer(self._location, device="cpu")
        except Exception as err:  # OSError, ValueError, HF errors: all mean "not loadable here"
            raise missing_model_error(self._location, err) from err

    @property
    def dimension(self) -> int:
        # sentence-transformers 6 renamed get_sentence_embedding_dimension to get_embedding_dimension.
        get_dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get_dimension())

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Unit-length vectors, one row per text (inner product = cosine similarity)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self._config.embed_batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=len(texts) >= _PROGRESS_BAR_MIN_TEXTS,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
