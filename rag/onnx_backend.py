"""Run the reader with ONNX Runtime, int8-quantised: exported from the PyTorch weights on first use.

The exported file is derived data, so it is cached outside the repo (``Config.cache_dir``), named
by a hash of the weights it came from, and written atomically.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
_ONNX_OPSET = 17
# Part of the cache key: a change to how the file is made must not reuse an old file.
_EXPORT_RECIPE = "opset17-int8-per-channel-reduce-range-fp32-attention-output-intermediate"


class OnnxQaModel:
    """start/end logits from an int8 ONNX export of a transformers QA model."""

    def __init__(self, path: Path, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.path = path
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]

    def logits(self, inputs: dict[str, npt.NDArray[np.int64]]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        feed = {name: inputs[name].astype(np.int64) for name in self._inputs if name in inputs}
        if "token_type_ids" in self._inputs and "token_type_ids" not in feed:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        start, end = self._session.run(["start_logits", "end_logits"], feed)
        return start, end


def cached_int8_export(model_dir: str, load_torch_model: Any, cache_dir: Path) -> Path:
    """The int8 ONNX file for the model in ``model_dir``, exporting it if it is not cached yet."""
    target = Path(cache_dir).expanduser() / "onnx" / f"{_weights_key(model_dir)}-int8.onnx"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("exporting the reader to ONNX int8 (once): %s", target)
    tmp_fp32 = target.with_name(f"{target.stem}.{uuid.uuid4().hex[:8]}.fp32.onnx")
    tmp_int8 = target.with_name(f"{target.stem}.{uuid.uuid4().hex[:8]}.tmp.onnx")
    try:
        _export_fp32(load_torch_model(), tmp_fp32)
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Per-channel scales and 7-bit weights (reduce_range), and the attention output projections
        # kept in float32: plain per-tensor int8 lost 3.5 F1 on the first 200 dev-v1.1 questions,
        # all-int8 per-channel 0.6 F1 on all of dev-v1.1 (measurements in the README).
        logging.disable(logging.WARNING)  # its advice to pre-process is for vision models, not ours
        try:
            quantize_dynamic(
                str(tmp_fp32), str(tmp_int8), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                nodes_to_exclude=_float32_nodes(tmp_fp32),
            )
        finally:
            logging.disable(logging.NOTSET)
        os.replace(tmp_int8, target)
    finally:
        for leftover in (tmp_fp32, tmp_int8, Path(f"{tmp_fp32}.data")):
            leftover.unlink(missing_ok=True)
    return target


def _export_fp32(model: Any, path: Path) -> None:
    import torch

    example = torch.ones((2, 16), dtype=torch.long)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in (*INPUT_NAMES, "start_logits", "end_logits")}
    with torch.inference_mode(), warnings.catch_warnings():
        # The tracer warns about shape checks in BERT's mask code; for an encoder they are
        # constants (no causal mask, no cache), which the agreement tests check at other shapes.
        warnings.simplefilter("ignore")
        # The TorchScript exporter (dynamo=False) handles BERT's dynamic batch and sequence
        # length in one pass and needs no extra packages.
        torch.onnx.export(
            model, (example, example, torch.zeros_like(example)), str(path), input_names=list(INPUT_NAMES),
            output_names=["start_logits", "end_logits"], dynamic_axes=dynamic, opset_version=_ONNX_OPSET, dynamo=False,
        )


def _float32_nodes(path: Path) -> list[str]:
    """The MatMuls left in float32: each layer's attention output projection and FFN expansion."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "MatMul" and ("attention/output/dense" in n.name or "intermediate/dense" in n.name)]


def _weights_key(model_dir: str) -> str:
    """A hash of the model's weight files (or of its name, for a Hub id), so new weights re-export."""
    digest = hashlib.sha256(_EXPORT_RECIPE.encode("utf-8"))
    folder = Path(model_dir)
    weights = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")) if folder.is_dir() else []
    for path in weights:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    if not weights:
        digest.update(model_dir.encode("utf-8"))
    return digest.hexdigest()[:16]
