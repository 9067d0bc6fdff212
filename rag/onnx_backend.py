"""Run the embedder's transformer and the reader with ONNX Runtime (no PyTorch), from cached exports.

rag/onnx_export.py makes the files (with PyTorch, once); this module only loads and runs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rag.onnx_export import cached_export

Int64Array = npt.NDArray[np.int64]
Float32Array = npt.NDArray[np.float32]


def open_session(path: Path, threads: int = 0) -> Any:
    """An ONNX Runtime session on ``path`` (raises if the file is not a loadable model)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Threads that spin after a run steal the CPU from the Python work between runs (tokenising,
    # decoding) and from the other session: warm ask p50 on seeds/ 70 -> 55 ms (int8) and 137 -> 110 ms
    # (float32) with spinning off, on 2 cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class _OnnxModel:
    def __init__(self, path: Path, outputs: list[str], threads: int = 0) -> None:
        self.path = path
        self._session = open_session(path, threads)
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._outputs = outputs

    @classmethod
    def cached(cls, kind: str, location: str, precision: str, cache_dir: Path) -> Any:
        """The model exported from ``location``: from the cache, exported (again) when missing or damaged."""
        made: list[Any] = []
        cached_export(kind, location, precision, cache_dir, check=lambda path: made.append(cls(path)))  # type: ignore[call-arg]  # on a subclass
        return made[-1]

    def _run(self, inputs: dict[str, Int64Array]) -> list[Float32Array]:
        feed = {name: inputs[name].astype(np.int64, copy=False) for name in self._inputs if name in inputs}
        if "token_type_ids" in self._inputs and "token_type_ids" not in feed:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        return self._session.run(self._outputs, feed)


class OnnxQaModel(_OnnxModel):
    """start/end logits from an ONNX export of a transformers QA model."""

    def __init__(self, path: Path, threads: int = 0) -> None:
        super().__init__(path, ["start_logits", "end_logits"], threads)

    def logits(self, inputs: dict[str, Int64Array]) -> tuple[Float32Array, Float32Array]:
        start, end = self._run(inputs)
        return start, end


class OnnxEncoder(_OnnxModel):
    """The last hidden state of an ONNX export of a transformers encoder (the embedder's transformer)."""

    def __init__(self, path: Path, threads: int = 0) -> None:
        super().__init__(path, ["last_hidden_state"], threads)

    def hidden_states(self, inputs: dict[str, Int64Array]) -> Float32Array:
        return self._run(inputs)[0]
