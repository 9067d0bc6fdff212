"""Blockwise int8 of an ONNX model: ONNX Runtime's MatMulNBits, for python -m rag.eval.bench.quant."""

from __future__ import annotations

import logging
from pathlib import Path

# Blocks of 32 along the inner dimension: 32 and 128 gave the same speed on this project's 2-core
# Zen 1, and 32 the smaller logit error (mean |start/end logit - float32| 0.020 against 0.033; the
# per-tensor dynamic int8 of every MatMul: 0.124, on 300 dev-v1.1 questions' windows).
BLOCK = 32


def blockwise_file(fp32: Path, target: Path) -> None:
    """Every weight MatMul as ONNX Runtime's MatMulNBits: 8-bit symmetric weights in blocks of BLOCK,
    and (accuracy_level 4) the activations quantised to int8 per row and block as it runs.

    Dynamic quantisation (the other int8 variants) gives each activation tensor one scale, set by its
    largest values (a few channels reach 20-30 where most stay near 2); here each row of each block
    has its own.
    """
    import onnx

    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer
    except ImportError as err:  # it imports onnx_ir, which rag itself does not need
        raise SystemExit(f"the blockwise variant needs onnx-ir: pip install -e '.[bench]' ({err})") from None
    settings = {"block_size": BLOCK, "is_symmetric": True, "accuracy_level": 4, "bits": 8}
    quantizer = MatMulNBitsQuantizer(onnx.load(str(fp32)), **settings,
                                     algo_config=DefaultWeightOnlyQuantConfig(**settings))
    logging.disable(logging.INFO)  # a line for every node it leaves alone
    try:
        quantizer.process()
    finally:
        logging.disable(logging.NOTSET)
    quantizer.model.save_model_to_file(str(target), False)
