"""Pick answer spans out of passages with an extractive question-answering model."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rag.config import Config
from rag.errors import ConfigError
from rag.model_paths import local_files_only, missing_model_error, quiet_loading, reader_location
from rag.tokenization import (
    configured,
    length_batches,
    load_tokenizer,
    pad,
    pad_token_id,
    windows,
)
from rag.types import Chunk, Span

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedModel

    from rag.onnx_backend import OnnxQaModel

log = logging.getLogger(__name__)

# Start and end candidates kept per window; spans are formed from their pairs.
_TOP_TOKENS = 20
# Spans kept per window (best start + end logits first).
_SPANS_PER_WINDOW = 20


MAX_QUESTION_TOKENS = 64
# [CLS] question [SEP] passage [SEP]: what a window holds beside the question and the passage.
_SPECIAL_TOKENS = 3


def check_window(config: Config, location: str) -> None:
    """Refuse reader windows the model cannot read (an ONNX Runtime error past its positions) or the
    tokenizer cannot cut (a window with no room for a passage after the question and the stride).

    Raises:
        ConfigError: Naming the setting and the bound.
    """
    least = MAX_QUESTION_TOKENS + _SPECIAL_TOKENS + config.reader_stride + 1
    if config.reader_max_length < least:
        raise ConfigError(
            f"reader_max_length must be at least {least} tokens (a {MAX_QUESTION_TOKENS}-token question, "
            f"{_SPECIAL_TOKENS} special tokens and reader_stride {config.reader_stride}, plus passage), "
            f"not {config.reader_max_length}; or lower reader_stride"
        )
    try:
        with open(Path(location) / "config.json", encoding="utf-8") as f:
            positions = json.load(f).get("max_position_embeddings")
    except (OSError, ValueError):
        return  # a model id without a local folder: the model's own loader reports what is wrong
    if isinstance(positions, int) and config.reader_max_length > positions:
        raise ConfigError(
            f"reader_max_length must be at most {positions} tokens, the reader's max_position_embeddings, "
            f"not {config.reader_max_length}"
        )


class ExtractiveReader:
    """Reads passages with a transformers QA model (``AutoModelForQuestionAnswering``).

    Long passages are read in overlapping windows. A span's probability is the product of the
    softmaxed start and end logits over its window's context tokens plus [CLS] ("no answer"); each
    span also carries its raw logits, so rag/scoring.py can compare spans across passages.
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        self.name, self.location = reader_location(config.reader_model)

    @cached_property
    def tokenizer(self) -> Tokenizer:
        """The reader's tokenizer (Rust `tokenizers`: no transformers or torch import), untruncated."""
        return configured(load_tokenizer(self.location))

    @cached_property
    def _window_tokenizer(self) -> Tokenizer:
        """Question + passage pairs in windows of reader_max_length tokens, overlapping by reader_stride."""
        check_window(self._config, self.location)
        return configured(self.tokenizer, self._config.reader_max_length, self._config.reader_stride, "only_second")

    @cached_property
    def model(self) -> PreTrainedModel:
        from transformers import AutoModelForQuestionAnswering
        try:
            with quiet_loading():
                model = AutoModelForQuestionAnswering.from_pretrained(self.location, local_files_only=local_files_only())
        except Exception as err:
            raise missing_model_error(self.location, err) from err
        # Weights may be stored as float16; CPUs compute float32 faster and more exactly.
        return model.float().eval()

    @cached_property
    def backend(self) -> TorchQaModel | OnnxQaModel:
        """What computes the logits: ONNX Runtime (exported once, cached; float32 or int8) or PyTorch."""
        backend = self._config.reader_backend
        if backend.startswith("onnx"):
            from rag.onnx_backend import OnnxQaModel

            precision = "int8" if backend == "onnx-int8" else "fp32"
            return OnnxQaModel.cached("qa", self.location, precision, self._config.cache_dir)
        return TorchQaModel(self.model)

    def read(self, question: str, chunks: Sequence[Chunk]) -> list[Span]:
        """Candidate answers from all passages, read in batches, most probable first.

        Every span lies inside its passage, ends after it starts and has at most
        ``max_answer_tokens`` tokens; its text is the document's text between its offsets.
        """
        return self.read_many([(question, chunks)])[0]

    def _clip(self, question: str) -> str:
        """The question cut to its first MAX_QUESTION_TOKENS tokens, so a window keeps room for the passage.

        Without this a question longer than the window leaves no room for the passage and the
        tokenizer fails; SQuAD readers are trained with questions of at most 64 tokens.
        """
        offsets = self.tokenizer.encode(question, add_special_tokens=False).offsets
        if len(offsets) <= MAX_QUESTION_TOKENS:
            return question
        return question[: offsets[MAX_QUESTION_TOKENS - 1][1]]

    def read_many(self, requests: Sequence[tuple[str, Sequence[Chunk]]]) -> list[list[Span]]:
        """:meth:`read` for several questions at once (each with its own passages), in one batch."""
        clipped = [self._clip(question) for question, _ in requests]
        pairs = [(owner, clipped[owner], c) for owner, (_, chunks) in enumerate(requests) for c in chunks]
        results: list[dict[tuple[str, int, int, int], Span]] = [{} for _ in requests]
        if not pairs:
            return [[] for _ in requests]
        encodings = self._window_tokenizer.encode_batch([(question, c.text) for _, question, c in pairs])
        all_windows = windows(encodings)
        start_logits: list[Any] = [None] * len(all_windows)
        end_logits: list[Any] = [None] * len(all_windows)
        pad_id = pad_token_id(self.tokenizer)
        # Windows of similar length share a batch: padding is compute spent on nothing.
        for batch in length_batches([len(w.ids) for _, w in all_windows], self._config.reader_batch_size):
            start, end = self.backend.logits(pad([all_windows[i][1] for i in batch], pad_id))
            for row, i in enumerate(batch):
                n = len(all_windows[i][1].ids)
                start_logits[i], end_logits[i] = start[row, :n], end[row, :n]

        windows_of_pair: dict[int, int] = {}
        for window, (pair_row, encoding) in enumerate(all_windows):
            owner, _, chunk = pairs[pair_row]
            best = results[owner]
            windows_of_pair[pair_row] = windows_of_pair.get(pair_row, -1) + 1
            for span in self._window_spans(
                chunk, windows_of_pair[pair_row], encoding.sequence_ids, encoding.offsets,
                start_logits[window], end_logits[window],
            ):
                # One span per place and passage: overlapping passages find the same place twice,
                # and which one counts is decided after the passages are chosen (rag/scoring.py).
                key = (span.chunk.doc_id, span.chunk.chunk_index, span.start, span.end)
                if key not in best or span.probability > best[key].probability:
                    best[key] = span
        return [sorted(best.values(), key=lambda s: (-s.probability, s.chunk.doc_id, s.start, s.end)) for best in results]

    def _window_spans(
        self,
        chunk: Chunk,
        window: int,
        sequence_ids: list[int | None],
        offsets: list[Any],
        start_logits: npt.NDArray[np.float32],
        end_logits: npt.NDArray[np.float32],
    ) -> list[Span]:
        context = np.array([i for i, s in enumerate(sequence_ids) if s == 1])
        if context.size == 0:
            return []
        start_context, end_context = start_logits[context].astype(np.float64), end_logits[context].astype(np.float64)
        null_start, null_end = float(start_logits[0]), float(end_logits[0])
        # Softmax over [CLS] and the context tokens only: question and padding are never answers.
        start_p = _softmax(np.concatenate([[null_start], start_context]))[1:]
        end_p = _softmax(np.concatenate([[null_end], end_context]))[1:]
        start_log_z, end_log_z = _log_sum_exp(start_context), _log_sum_exp(end_context)
        top_starts = np.argsort(-start_context, kind="stable")[:_TOP_TOKENS]
        top_ends = np.argsort(-end_context, kind="stable")[:_TOP_TOKENS]
        candidates = []
        for s in top_starts:
            for e in top_ends:
                if e < s or e - s + 1 > self._config.max_answer_tokens:
                    continue
                char_start, char_end = offsets[context[s]][0], offsets[context[e]][1]
                if 0 <= char_start < char_end <= len(chunk.text):
                    candidates.append((start_context[s] + end_context[e], int(s), int(e), char_start, char_end))
        # The best spans of the window by start + end logit (the same order as by probability);
        # the long tail of a window is never an answer and only slows grouping down.
        candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
        return [
            Span(
                chunk=chunk,
                start=chunk.start + char_start,
                end=chunk.start + char_end,
                text=chunk.text[char_start:char_end],
                probability=float(start_p[s] * end_p[e]),
                start_logit=float(start_context[s]),
                end_logit=float(end_context[e]),
                null_start_logit=null_start,
                null_end_logit=null_end,
                window=window,
                start_log_z=start_log_z,
                end_log_z=end_log_z,
                tokens=e - s + 1,
            )
            for _, s, e, char_start, char_end in candidates[:_SPANS_PER_WINDOW]
        ]


class TorchQaModel:
    """start/end logits from a transformers QA model in PyTorch."""

    def __init__(self, model: PreTrainedModel) -> None:
        self._model = model

    def logits(self, inputs: dict[str, npt.NDArray[np.int64]]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        import torch

        with torch.inference_mode():
            out = self._model(**{name: torch.from_numpy(t) for name, t in inputs.items()})
        return out.start_logits.float().numpy(), out.end_logits.float().numpy()


def _log_sum_exp(logits: npt.NDArray[np.float64]) -> float:
    top = float(logits.max())
    return top + float(np.log(np.exp(logits - top).sum()))


def _softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    shifted = np.exp(logits.astype(np.float64) - logits.max())
    return shifted / shifted.sum()
