"""The int8 ONNX reader: exported once and cached; its outputs agree with PyTorch within a tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from rag import Config
from rag.onnx_backend import OnnxQaModel, cached_int8_export
from rag.reader import ExtractiveReader, TorchQaModel
from rag.types import Chunk

PASSAGES = [
    "The Cheonan warship was sunk in 2010 by a North Korean torpedo, killing 46 sailors.",
    "Ahn Gyu-back met Gen Nakatani in Seoul on Monday at the Defense Ministry headquarters in Yongsan.",
]


@pytest.fixture(scope="module")
def onnx_reader(tmp_path_factory: pytest.TempPathFactory, reader: ExtractiveReader) -> ExtractiveReader:
    config = Config(reader_backend="onnx", cache_dir=tmp_path_factory.mktemp("cache"))
    onnx = ExtractiveReader(config)
    onnx.__dict__["model"] = reader.model  # share the loaded PyTorch weights for the export
    onnx.backend
    return onnx


def test_export_is_cached_and_reused(onnx_reader: ExtractiveReader, reader: ExtractiveReader) -> None:
    path = onnx_reader.backend.path
    assert path.is_file() and path.suffix == ".onnx"
    assert path.stat().st_size < 45_000_000  # mostly int8: well under the 90 MB of float32 weights
    mtime = path.stat().st_mtime_ns
    again = cached_int8_export(onnx_reader.location, lambda: pytest.fail("must not export again"), path.parent.parent)
    assert again == path and path.stat().st_mtime_ns == mtime
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left


@pytest.mark.parametrize("batch, length", [(1, 24), (3, 57), (5, 200)])
def test_logits_agree_with_pytorch(onnx_reader: ExtractiveReader, reader: ExtractiveReader, batch: int, length: int) -> None:
    rng = np.random.default_rng(batch)
    ids = rng.integers(1000, 20000, size=(batch, length)).astype(np.int64)
    ids[:, 0] = 101
    inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    onnx_start, onnx_end = onnx_reader.backend.logits(inputs)
    torch_start, torch_end = TorchQaModel(reader.model).logits(inputs)
    assert onnx_start.shape == torch_start.shape == (batch, length)
    # int8 weights move logits a little, by an amount that depends on the CPU's instructions.
    assert np.abs(onnx_start - torch_start).mean() < 0.5 and np.abs(onnx_end - torch_end).mean() < 0.5
    assert np.corrcoef(onnx_start.ravel(), torch_start.ravel())[0, 1] > 0.98


def test_same_answers_as_pytorch(onnx_reader: ExtractiveReader, reader: ExtractiveReader) -> None:
    questions = ["How many sailors were killed?", "Where did Ahn Gyu-back and Gen Nakatani meet?", "In which district is the ministry?"]
    chunks = [Chunk(f"d{i}.txt", 0, 0, len(t), t) for i, t in enumerate(PASSAGES)]
    for question in questions:
        onnx_best = onnx_reader.read(question, chunks)[0]
        torch_best = reader.read(question, chunks)[0]
        assert onnx_best.text == torch_best.text
        assert onnx_best.probability == pytest.approx(torch_best.probability, abs=0.15)


def test_onnx_model_loads_from_the_cached_file(onnx_reader: ExtractiveReader) -> None:
    model = OnnxQaModel(onnx_reader.backend.path, threads=1)
    ids = np.array([[101, 2054, 102, 3000, 102]], dtype=np.int64)
    start, end = model.logits({"input_ids": ids, "attention_mask": np.ones_like(ids)})  # no token_type_ids: zeros
    assert start.shape == end.shape == (1, 5)
