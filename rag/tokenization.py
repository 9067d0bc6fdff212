"""Tokenise with the Rust `tokenizers` library directly: the same ids and offsets as transformers' fast
tokenizers (which wrap it), without importing transformers or PyTorch on the query path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from rag.model_paths import local_files_only, missing_model_error, quiet_loading

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer


def load_tokenizer(location: str) -> Tokenizer:
    """The tokenizer of the model at ``location``: its tokenizer.json, or (a Hub id) transformers' own."""
    from tokenizers import Tokenizer

    path = Path(location) / "tokenizer.json"
    if path.is_file():
        try:
            return Tokenizer.from_file(str(path))
        except Exception as err:  # a damaged file: tokenizers raises a bare Exception
            raise missing_model_error(location, err) from err
    from transformers import AutoTokenizer

    try:
        with quiet_loading():
            tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=local_files_only())
    except Exception as err:
        raise missing_model_error(location, err) from err
    if not tokenizer.is_fast:
        raise missing_model_error(location, TypeError("rag needs a fast tokenizer (offsets)"))
    return Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())


def configured(tokenizer: Tokenizer, max_length: int | None = None, stride: int = 0, strategy: str = "longest_first") -> Tokenizer:
    """A copy of ``tokenizer`` that truncates as asked and never pads (batches are padded by :func:`pad`).

    A copy, because truncation is state of the tokenizer object and each use needs its own.
    """
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(tokenizer.to_str())
    copy.no_padding()
    if max_length is None:
        copy.no_truncation()
    else:
        copy.enable_truncation(max_length, stride=stride, strategy=strategy)
    return copy


def windows(encodings: Sequence[Encoding]) -> list[tuple[int, Encoding]]:
    """Every window of every encoding, with the row it came from (the first window, then its overflows).

    The order is transformers' ``return_overflowing_tokens=True`` order (``overflow_to_sample_mapping``).
    """
    return [(row, window) for row, encoding in enumerate(encodings) for window in (encoding, *encoding.overflowing)]


def pad(encodings: Sequence[Encoding], pad_id: int = 0) -> dict[str, npt.NDArray[np.int64]]:
    """input_ids, attention_mask and token_type_ids for ``encodings``, right-padded to the longest."""
    width = max(len(e.ids) for e in encodings)
    ids = np.full((len(encodings), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    types = np.zeros((len(encodings), width), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        ids[row, :n] = encoding.ids
        mask[row, :n] = encoding.attention_mask
        types[row, :n] = encoding.type_ids
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), so padding wastes little compute."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pad_token_id(tokenizer: Tokenizer) -> int:
    for token in ("[PAD]", "<pad>"):
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            return int(token_id)
    return 0
