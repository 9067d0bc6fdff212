"""Export the embedder and the reader to ONNX, once, into a cache outside the repo.

Only this module imports PyTorch for the ONNX path, and only when a cached file is missing or
damaged: the query path loads the cached files with ONNX Runtime and never imports torch.
An exported file is derived data: it is named by what it came from (model files, kind, precision,
recipe), written atomically, and checked by loading it before it is used; a file that does not load
is rebuilt, with a message, never a traceback.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import subprocess
import sys
import uuid
import warnings
from pathlib import Path
from typing import Any

from rag.errors import ModelMissingError
from rag.onnx_cache import source_key

log = logging.getLogger(__name__)

KINDS = ("encoder", "qa")  # the embedder's transformer (last hidden state), the reader (start/end logits)
PRECISIONS = ("fp32", "int8")
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAMES = {"encoder": ("last_hidden_state",), "qa": ("start_logits", "end_logits")}
_ONNX_OPSET = 17
# Part of the cache key: a change to how a file is made must not reuse an old file.
_RECIPE = "opset17-torchscript-eager-v2"
# BERT's eager attention (an additive mask made once), not the SDPA export's Where + IsNaN in every
# layer: reader forward pass on 3x150 tokens 183 -> 168 ms (2-core Zen 1), logits within 1e-5. ORT's
# transformer optimizer (fused Attention/SkipLayerNorm) on top gained nothing more (169 ms).
_ATTENTION = "eager"
# The MatMuls an int8 export keeps in float32, by kind (python -m rag.eval.bench.quant; its figures:
# docs/performance-history.md, "Performance: PyTorch against ONNX Runtime"). The embedder keeps its
# first layer in float32: of the seven dynamic variants (all int8; layer 0, layer 5, attention Q/K/V,
# attention output, FFN in or FFN out kept), only layer 0 and FFN-in lose no seeds recall@5, and layer
# 0 is the faster; all-int8 is faster still but loses recall. For the reader every variant (static QDQ
# included) loses end-to-end EM on the tuning's dev parts, so rag reads in float32 by default.
_FLOAT32_MATMULS: dict[str, tuple[str, ...]] = {"encoder": ("layer.0/",), "qa": ()}


def cached_export(kind: str, location: str, precision: str, cache_dir: Path, check: Any = None) -> Path:
    """The ONNX file for the model at ``location``, exported the first time (and whenever it is damaged).

    ``check(path)`` opens the file (an ONNX Runtime session); if it fails on a cached file, the file
    is exported again. Returns the path of a file that ``check`` accepted.
    """
    if kind not in KINDS or precision not in PRECISIONS:
        raise ValueError(f"no ONNX export for {kind}/{precision}")
    target = _cache_path(kind, location, precision, cache_dir)
    if target.is_file():
        try:
            if check is not None:
                check(target)
            return target
        except Exception as err:
            log.warning("the cached ONNX file %s is damaged (%s); exporting it again", target, _first_line(err))
    what = "embed" if kind == "encoder" else "reader"
    log.warning("preparing the fast %s (once, about 20 s): exporting %s to ONNX %s in %s",
                "embedder" if kind == "encoder" else "reader", location, precision, target.parent)
    fp32 = _cache_path(kind, location, "fp32", cache_dir) if precision == "int8" else None
    _export(kind, location, precision, target, fp32 if fp32 is not None and fp32.is_file() else None)
    if check is not None:
        try:
            check(target)
        except Exception as err:
            raise ModelMissingError(f"the ONNX export of {location!r} does not load: {_first_line(err)}; "
                                    f"set {what}_backend = \"torch\" in rag.toml") from err
    return target


def _cache_path(kind: str, location: str, precision: str, cache_dir: Path) -> Path:
    recipe = _RECIPE if precision == "fp32" else f"{_RECIPE}-int8-dynamic-per-channel-{_int8_variant(kind)}"
    return Path(cache_dir).expanduser() / "onnx" / f"{kind}-{precision}-{source_key(kind, location, recipe)}.onnx"


def _export(kind: str, location: str, precision: str, target: Path, fp32: Path | None = None) -> None:
    """Export in a child process: PyTorch and transformers (about 500 MB) never load into the
    process that answers, so a server's first start holds no more memory than its later ones.

    ``fp32``: the cached float32 export of the same model, which an int8 export quantises without
    importing PyTorch (a few seconds instead of about 20); if it does not load, the child exports anew.
    """
    command = [sys.executable, "-m", "rag.onnx_export", kind, location, precision, str(target), *([str(fp32)] if fp32 else [])]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise ModelMissingError(f"exporting {location!r} to ONNX failed: {lines[-1] if lines else done.returncode}")


def _export_here(kind: str, location: str, precision: str, target: Path, fp32: Path | None = None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    tmp_fp32 = target.with_name(f"{target.stem}.{token}.fp32.tmp")
    tmp_int8 = target.with_name(f"{target.stem}.{token}.int8.tmp")
    try:
        if precision == "int8" and fp32 is not None:
            try:
                _quantize(kind, fp32, tmp_int8)
                os.replace(tmp_int8, target)
                return
            except Exception as err:
                print(f"the cached float32 export {fp32} does not quantise ({_first_line(err)}); exporting anew",
                      file=sys.stderr)
        _export_fp32(kind, _load_torch_model(kind, location), tmp_fp32)
        if precision == "int8":
            _quantize(kind, tmp_fp32, tmp_int8)
            os.replace(tmp_int8, target)
        else:
            os.replace(tmp_fp32, target)
    finally:
        for leftover in (tmp_fp32, tmp_int8, Path(f"{tmp_fp32}.data")):
            leftover.unlink(missing_ok=True)


def _load_torch_model(kind: str, location: str) -> Any:
    from transformers import AutoModel, AutoModelForQuestionAnswering

    from rag.model_paths import local_files_only, quiet_loading

    loader = AutoModel if kind == "encoder" else AutoModelForQuestionAnswering
    try:
        with quiet_loading():
            model = loader.from_pretrained(location, attn_implementation=_ATTENTION, local_files_only=local_files_only())
    except Exception as err:
        raise ModelMissingError(f"cannot load {location!r} to export it to ONNX: {_first_line(err)}") from err
    return model.float().eval()  # weights may be stored as float16


class _Outputs:
    """Wraps a transformers model so that the traced graph returns plain tensors in a fixed order."""

    def __init__(self, kind: str, model: Any) -> None:
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
                return (out.last_hidden_state,) if kind == "encoder" else (out.start_logits, out.end_logits)

        self.module = Wrapped().eval()


def _export_fp32(kind: str, model: Any, path: Path) -> None:
    import torch

    example = torch.ones((2, 16), dtype=torch.long)
    outputs = OUTPUT_NAMES[kind]
    dynamic = {name: {0: "batch", 1: "sequence"} for name in (*INPUT_NAMES, *outputs)}
    with torch.inference_mode(), warnings.catch_warnings():
        # The tracer warns about shape checks in BERT's mask code; for an encoder they are
        # constants (no causal mask, no cache), which the agreement tests check at other shapes.
        warnings.simplefilter("ignore")
        # The TorchScript exporter (dynamo=False) handles BERT's dynamic batch and sequence
        # length in one pass and needs no extra packages.
        torch.onnx.export(
            _Outputs(kind, model).module, (example, example, torch.zeros_like(example)), str(path),
            input_names=list(INPUT_NAMES), output_names=list(outputs), dynamic_axes=dynamic,
            opset_version=_ONNX_OPSET, dynamo=False,
        )


def _quantize(kind: str, fp32: Path, int8: Path) -> None:
    quantize(fp32, int8, _FLOAT32_MATMULS[kind])


def quantize(fp32: Path, int8: Path, keep_float32: tuple[str, ...] = ()) -> None:
    """int8 weights for every MatMul of ``fp32`` but those whose node name contains one of
    ``keep_float32`` (dynamic quantisation, per channel; python -m rag.eval.bench.quant compares choices)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # its advice to pre-process is for vision models, not ours
    try:
        quantize_dynamic(
            str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True, reduce_range=_reduce_range(),
            nodes_to_exclude=_float32_nodes(fp32, keep_float32),
        )
    finally:
        logging.disable(logging.NOTSET)


def _float32_nodes(path: Path, keep: tuple[str, ...]) -> list[str]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "MatMul" and any(part in n.name for part in keep)]


@functools.cache
def has_vnni() -> bool:
    """Whether this x86 CPU multiplies int8 with VNNI (or AMX): 8-bit weights exact, int8 ~2x float32.

    Without it ONNX Runtime's int8 kernels are about as fast as float32 (python -m rag.eval.bench.quant
    on a 2-core Zen 1: docs/performance-history.md, "The same on a CPU without VNNI").
    """
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").split()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


def _reduce_range() -> bool:
    """7-bit weights, where the CPU may lack VNNI: its u8 x s8 products can saturate 16 bits otherwise.

    ONNX Runtime's advice for dynamic quantisation; on a CPU with VNNI (or on ARM) 8-bit weights are
    exact and keep more accuracy. Decided on the machine that makes the export, and part of its name.
    """
    return platform.machine().lower() not in ("arm64", "aarch64") and not has_vnni()


def _int8_variant(kind: str) -> str:
    return "|".join(["7bit" if _reduce_range() else "8bit", *_FLOAT32_MATMULS[kind]])


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


if __name__ == "__main__":  # the child process of _export: python -m rag.onnx_export KIND LOCATION PRECISION TARGET [FP32]
    _export_here(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]), Path(sys.argv[5]) if len(sys.argv) > 5 else None)
