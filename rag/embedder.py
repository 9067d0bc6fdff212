"""Turn passages and questions into normalised vectors: sentence-transformers, or its model on ONNX Runtime.

The ONNX embedder runs the same transformer (exported once from the sentence-transformers model's
weights, cached) and does the rest of the sentence-transformers model in numpy: mean pooling over
the attention mask, then L2 normalisation; a test checks that the vectors agree.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from rag.config import Config
from rag.errors import ConfigError, ModelMissingError
from rag.model_paths import embedder_location, local_files_only, missing_model_error, quiet_loading
from rag.onnx_export import has_vnni
from rag.tokenization import (
    configured,
    length_batches,
    load_tokenizer,
    pad,
    pad_token_id,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    from rag.onnx_backend import OnnxEncoder

log = logging.getLogger(__name__)

# Below this many texts a progress bar is noise.
_PROGRESS_BAR_MIN_TEXTS = 64
# How many texts are tokenised at once (see OnnxEmbedder.embed).
_TOKENIZE_WINDOW = 2048


# False while a caller shows one bar for several embed calls (an update embeds a batch at a time).
_OWN_BAR: contextvars.ContextVar[bool] = contextvars.ContextVar("rag_embedder_own_bar", default=True)


def _wants_progress(texts: int) -> bool:
    """A progress bar only for a long embedding, and only where rag's progress lines are shown (the
    CLI's default; not with -q, nor in a program that has not asked for rag's INFO logs)."""
    return _OWN_BAR.get() and wants_progress(texts)


def wants_progress(items: int) -> bool:
    """Whether work over this many texts or documents shows a progress bar."""
    return items >= _PROGRESS_BAR_MIN_TEXTS and logging.getLogger("rag").isEnabledFor(logging.INFO)


@contextmanager
def one_progress_bar(total: int, desc: str, unit: str) -> Iterator[Any]:
    """A bar over ``total`` units of the caller's (None when not wanted), with the embedder's own
    bars off meanwhile."""
    if not wants_progress(total):
        yield None
        return
    from tqdm import tqdm

    token = _OWN_BAR.set(False)
    try:
        with tqdm(total=total, desc=desc, unit=unit) as bar:
            yield bar
    finally:
        _OWN_BAR.reset(token)


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
        from sentence_transformers import (
            SentenceTransformer,  # slow import, pay on first use
        )

        try:
            with quiet_loading():
                return SentenceTransformer(self._location, device="cpu", local_files_only=local_files_only())
        except Exception as err:  # OSError, ValueError, HF errors: all mean "not loadable here"
            raise missing_model_error(self._location, err) from err

    @property
    def dimension(self) -> int:
        # sentence-transformers 6 renamed get_sentence_embedding_dimension to get_embedding_dimension.
        get_dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dimension = get_dimension()
        if dimension is None:
            raise ModelMissingError(f"{self._location} does not say its embedding dimension")
        return int(dimension)

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Unit-length vectors, one row per text (inner product = cosine similarity)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self._config.embed_batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=_wants_progress(len(texts)),
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class OnnxEmbedder:
    """The sentence-transformers model's transformer on ONNX Runtime, pooled and normalised in numpy.

    Supports what the default embedder (all-MiniLM-L6-v2) is: a Transformer module, mean pooling,
    normalisation. Another architecture needs embed_backend = "torch".
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        self.name, self._location = embedder_location(config.embed_model)
        self._precision = "int8" if resolved_embed_backend(config) == "onnx-int8" else "fp32"
        self._max_length = _check_mean_pooled(Path(self._location))

    @cached_property
    def _tokenizer(self) -> Tokenizer:
        return configured(load_tokenizer(self._location), self._max_length)

    @cached_property
    def model(self) -> OnnxEncoder:
        from rag.onnx_backend import OnnxEncoder

        return OnnxEncoder.cached("encoder", self._location, self._precision, self._config.cache_dir)

    @property
    def dimension(self) -> int:
        return int(self.model.hidden_states(pad(self._tokenizer.encode_batch(["a"]))).shape[-1])

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Unit-length vectors, one row per text (inner product = cosine similarity)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        pad_id = pad_token_id(self._tokenizer)
        out: npt.NDArray[np.float32] | None = None
        progress = _progress(len(texts)) if _wants_progress(len(texts)) else None
        # Tokenised a window at a time: a text's encoding (ids, offsets, masks) takes ~12 KB, so a
        # whole 10,000-file corpus tokenised at once held gigabytes. Within a window, texts of like
        # length are batched together (less padding).
        for first in range(0, len(texts), _TOKENIZE_WINDOW):
            window = texts[first:first + _TOKENIZE_WINDOW]
            # sentence-transformers strips each text before tokenising it.
            encodings = self._tokenizer.encode_batch([text.strip() for text in window])
            for batch in length_batches([len(e.ids) for e in encodings], self._config.embed_batch_size):
                inputs = pad([encodings[i] for i in batch], pad_id)
                hidden = self.model.hidden_states(inputs)
                mask = inputs["attention_mask"][:, :, None].astype(np.float32)
                # sentence-transformers' Pooling (mean) and Normalize: sum / max(count, 1e-9), then x / max(|x|, 1e-12).
                pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
                pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
                if out is None:
                    out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
                out[first + np.asarray(batch)] = pooled
                if progress is not None:
                    progress.update(len(batch))
        if progress is not None:
            progress.close()
        assert out is not None
        return out


def resolved_embed_backend(config: Config) -> str:
    """``config.embed_backend``, with "auto" made onnx-int8 where int8 pays (x86 with VNNI), else onnx."""
    if config.embed_backend != "auto":
        return config.embed_backend
    return "onnx-int8" if has_vnni() else "onnx"


def make_embedder(config: Config) -> Embedder:
    """The embedder ``config.embed_backend`` asks for."""
    if resolved_embed_backend(config).startswith("onnx"):
        return OnnxEmbedder(config)
    return SentenceTransformerEmbedder(config)


def _check_mean_pooled(folder: Path) -> int:
    """The model's max_seq_length, after checking that it is Transformer + mean pooling (+ Normalize)."""
    if not folder.is_dir():
        raise ConfigError(f"embed_backend onnx needs a local sentence-transformers folder, not {str(folder)!r}; "
                          'set embed_backend = "torch"')
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
        max_length = int(json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))["max_seq_length"])
    except (OSError, ValueError, KeyError, IndexError, TypeError) as err:
        raise ConfigError(f"cannot read the sentence-transformers configuration in {folder}: {err}; "
                          'set embed_backend = "torch"') from err
    types = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if types[:2] != ["Transformer", "Pooling"] or set(types[2:]) - {"Normalize"} or not pooling.get("pooling_mode_mean_tokens") \
            or any(pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")):
        raise ConfigError(f"embed_backend onnx supports Transformer + mean pooling models; {folder} is {types}; "
                          'set embed_backend = "torch"')
    return max_length


def _progress(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="Embedding", unit="passage")
