"""The torch-free query path: ONNX Runtime embedder and reader agree with PyTorch, tokenise as transformers
does, rebuild a damaged export with a message, and answering never imports torch."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import Config
from rag.embedder import OnnxEmbedder, SentenceTransformerEmbedder, resolved_embed_backend
from rag.errors import ConfigError
from rag.onnx_backend import OnnxEncoder, OnnxQaModel
from rag.onnx_export import cached_export, has_vnni
from rag.reader import ExtractiveReader
from rag.tokenization import configured, windows
from rag.types import Chunk
from tests.helpers import SEEDS

REPO = Path(__file__).resolve().parents[1]
PASSAGES = [
    "The Cheonan warship was sunk in 2010 by a North Korean torpedo, killing 46 sailors.",
    "Ahn Gyu-back met Gen Nakatani in Seoul on Monday at the Defense Ministry headquarters in Yongsan.",
]
QUESTIONS = ["How many sailors were killed?", "Where did Ahn Gyu-back and Gen Nakatani meet?",
             "In which district is the ministry?", "Who won the 2031 chess olympiad?"]


def _seed_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))[:6]]


@pytest.fixture(scope="module")
def fp32_embedder() -> OnnxEmbedder:
    """The float32 export (the default embedder is int8): sentence-transformers' vectors within 1e-4."""
    model = OnnxEmbedder(Config(embed_backend="onnx"))
    _ = model.model  # export (the first time) and load
    return model


@pytest.fixture(scope="module")
def torch_reader() -> ExtractiveReader:
    reader = ExtractiveReader(Config(reader_backend="torch"))
    _ = reader.backend  # load now
    return reader


def test_onnx_vectors_equal_sentence_transformers(embedder, fp32_embedder) -> None:
    texts = [*PASSAGES, *(t[:2500] for t in _seed_texts()), "  padded with spaces  ", "x"]
    reference = SentenceTransformerEmbedder(Config(embed_backend="torch")).embed(texts)
    fp32 = fp32_embedder.embed(texts)
    assert fp32.shape == reference.shape == (len(texts), 384) and fp32.dtype == np.float32
    assert np.abs(fp32 - reference).max() < 1e-4
    assert np.allclose(np.linalg.norm(fp32, axis=1), 1.0, atol=1e-5)
    # The default: int8 where the CPU has VNNI, float32 elsewhere. int8 weights (the first layer
    # float32) keep the same directions give or take (recall@5 is in the benchmark), still unit length.
    assert Config().embed_backend == "auto" and isinstance(embedder, OnnxEmbedder)
    assert embedder.model.path.name.startswith("encoder-int8-" if has_vnni() else "encoder-fp32-")
    int8_embedder = OnnxEmbedder(Config(embed_backend="onnx-int8"))
    assert int8_embedder.model.path.name.startswith("encoder-int8-") and int8_embedder.model.path.stat().st_size < 30_000_000
    int8 = int8_embedder.embed(texts)
    assert int8.shape == reference.shape and (int8 * reference).sum(axis=1).min() > 0.98
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


@pytest.mark.parametrize("vnni", [True, False])
def test_auto_embed_backend_is_int8_only_where_the_cpu_has_vnni(monkeypatch: pytest.MonkeyPatch, vnni: bool) -> None:
    import rag.embedder

    monkeypatch.setattr(rag.embedder, "has_vnni", lambda: vnni)
    assert resolved_embed_backend(Config()) == ("onnx-int8" if vnni else "onnx")
    assert OnnxEmbedder(Config())._precision == ("int8" if vnni else "fp32")
    for explicit in ("onnx", "onnx-int8", "torch"):
        assert resolved_embed_backend(Config(embed_backend=explicit)) == explicit
    with pytest.raises(ConfigError, match="reader_backend must be one of onnx, onnx-int8, torch"):
        Config(reader_backend="auto")


def test_windows_tokenise_as_transformers(reader: ExtractiveReader) -> None:
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(reader.location)
    question, text = "Which Japanese prime minister announced his resignation?", _seed_texts()[3]
    ours = windows(configured(reader.tokenizer, 96, 32, "only_second").encode_batch([(question, text), (QUESTIONS[0], PASSAGES[0])]))
    theirs = hf([question, QUESTIONS[0]], [text, PASSAGES[0]], truncation="only_second", max_length=96, stride=32,
                return_overflowing_tokens=True, return_offsets_mapping=True)
    assert len(ours) == len(theirs["input_ids"]) > 3
    for i, (row, window) in enumerate(ours):
        assert row == theirs["overflow_to_sample_mapping"][i]
        assert window.ids == theirs["input_ids"][i] and window.type_ids == theirs["token_type_ids"][i]
        assert [tuple(o) for o in window.offsets] == [tuple(o) for o in theirs["offset_mapping"][i]]
        assert window.sequence_ids == theirs.sequence_ids(i)


def test_onnx_reader_gives_the_torch_answers(reader: ExtractiveReader, torch_reader: ExtractiveReader) -> None:
    assert Config().reader_backend == "onnx" and isinstance(reader.backend, OnnxQaModel)  # the default
    long_text = _seed_texts()[0]
    chunks = [Chunk(f"d{i}.txt", 0, 0, len(t), t) for i, t in enumerate([*PASSAGES, long_text])]
    for question in QUESTIONS:
        ours, theirs = reader.read(question, chunks)[:5], torch_reader.read(question, chunks)[:5]
        assert [(s.chunk.doc_id, s.start, s.end) for s in ours] == [(s.chunk.doc_id, s.start, s.end) for s in theirs], question
        for a, b in zip(ours, theirs, strict=True):
            assert a.probability == pytest.approx(b.probability, abs=1e-4)
            assert a.start_logit == pytest.approx(b.start_logit, abs=1e-3) and a.null_end_logit == pytest.approx(b.null_end_logit, abs=1e-3)


def test_exports_mask_attention_once_not_in_every_layer(reader: ExtractiveReader, fp32_embedder: OnnxEmbedder) -> None:
    """Both exports use BERT's eager attention (an additive mask made once), not the SDPA export's
    Where and IsNaN in each of the 6 layers, 7% of the reader's forward pass in ORT's profile."""
    import onnx

    for path in (reader.backend.path, fp32_embedder.model.path):
        ops = [node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node]
        assert ops.count("IsNaN") == 0 and ops.count("Where") <= 2, (path.name, ops.count("Where"))
        assert ops.count("Softmax") == 6  # one attention per layer, still there


def test_int8_reader_stays_close(torch_reader: ExtractiveReader) -> None:
    int8 = ExtractiveReader(Config(reader_backend="onnx-int8"))
    assert int8.backend.path.stat().st_size < 30_000_000  # int8 weights: a quarter of the 90 MB of float32
    chunks = [Chunk(f"d{i}.txt", 0, 0, len(t), t) for i, t in enumerate(PASSAGES)]
    for question in QUESTIONS[:3]:
        ours, theirs = int8.read(question, chunks)[0], torch_reader.read(question, chunks)[0]
        assert ours.text == theirs.text and ours.probability == pytest.approx(theirs.probability, abs=0.1)


@pytest.mark.e2e  # a real export from PyTorch into ONNX, several seconds each
def test_export_is_cached_reused_and_rebuilt_when_damaged(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                          fp32_embedder: OnnxEmbedder) -> None:
    # The cache holds the float32 export (test_answering_never_imports_torch makes one in an empty cache).
    path = tmp_path / "onnx" / fp32_embedder.model.path.name
    path.parent.mkdir()
    shutil.copy2(fp32_embedder.model.path, path)
    config = Config(cache_dir=tmp_path, embed_backend="onnx")
    with caplog.at_level(logging.WARNING, logger="rag.onnx_export"):
        first = OnnxEmbedder(config)
        vectors = first.embed(PASSAGES)
    assert first.model.path == path and caplog.text == ""  # reused, not exported again
    mtime = path.stat().st_mtime_ns
    again = cached_export("encoder", first._location, "fp32", tmp_path, check=OnnxEncoder)
    assert again == path and path.stat().st_mtime_ns == mtime

    path.write_bytes(path.read_bytes()[:5000])  # a cut-off file, as a full disk or a kill would leave
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rag.onnx_export"):
        rebuilt = OnnxEmbedder(config)
        assert np.abs(rebuilt.embed(PASSAGES) - vectors).max() < 1e-6
    assert "is damaged" in caplog.text and "exporting it again" in caplog.text
    assert "preparing the fast embedder (once" in caplog.text  # the user is told it takes a while
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


@pytest.mark.e2e  # a real export from PyTorch into ONNX, several seconds each
def test_new_weights_of_the_same_size_and_time_are_exported_again(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                                 reader: ExtractiveReader) -> None:
    """An upgraded reader: the weights file is replaced by one of exactly the same size (a retrained
    reader of the same architecture) and even the same modification time. The first start after it
    exports once, says so, and answers with the new weights; the next start reuses that export."""
    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "reader"
    shutil.copytree(reader.location, folder, ignore=shutil.ignore_patterns("calibration.json"))
    weights = folder / "model.safetensors"
    config = Config(reader_model=str(folder), cache_dir=tmp_path / "cache")
    # The cache as the previous release left it: the export of these very files (the session's).
    from rag.onnx_export import _cache_path

    old_path = _cache_path("qa", str(folder), "fp32", config.cache_dir)
    old_path.parent.mkdir(parents=True)
    shutil.copy2(reader.backend.path, old_path)
    chunks = [Chunk(f"d{i}.txt", 0, 0, len(t), t) for i, t in enumerate(PASSAGES)]
    before = ExtractiveReader(config).read(QUESTIONS[0], chunks)[0]

    tensors = load_file(str(weights))
    head = next(name for name in tensors if name.startswith("qa_outputs") and name.endswith("bias"))
    tensors[head] = tensors[head] + np.array([0.0, 1.5], dtype=tensors[head].dtype)  # end logits shifted
    stat = weights.stat()
    save_file(tensors, str(weights), metadata={"format": "pt"})
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert weights.stat().st_size == stat.st_size and weights.stat().st_mtime_ns == stat.st_mtime_ns

    with caplog.at_level(logging.WARNING, logger="rag.onnx_export"):
        upgraded = ExtractiveReader(config)
        after = upgraded.read(QUESTIONS[0], chunks)[0]
    assert "preparing the fast reader (once" in caplog.text
    assert upgraded.backend.path != old_path and upgraded.backend.path.is_file()
    assert after.text == before.text and after.end_logit == pytest.approx(before.end_logit + 1.5, abs=1e-2)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rag.onnx_export"):
        assert ExtractiveReader(config).backend.path == upgraded.backend.path
    assert caplog.text == ""  # exported once, not at every start


@pytest.mark.e2e  # a real export from PyTorch into ONNX, several seconds each
def test_int8_export_quantises_the_cached_float32_file(tmp_path: Path, fp32_embedder: OnnxEmbedder,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """With the float32 export cached, int8 needs no PyTorch; a damaged float32 file is exported anew."""
    from rag import onnx_export

    fp32, location = fp32_embedder.model.path, fp32_embedder._location
    reference = fp32_embedder.embed(PASSAGES)
    target = tmp_path / "onnx" / "encoder-int8.onnx"

    def no_torch(kind: str, where: str) -> None:
        raise AssertionError("exported with PyTorch although the float32 file was there")

    with monkeypatch.context() as patch:
        patch.setattr(onnx_export, "_load_torch_model", no_torch)
        onnx_export._export_here("encoder", location, "int8", target, fp32)
    int8 = OnnxEmbedder(Config(embed_backend="onnx-int8"))
    int8.model = OnnxEncoder(target)
    assert target.stat().st_size < 30_000_000 and (int8.embed(PASSAGES) * reference).sum(axis=1).min() > 0.97
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(fp32.read_bytes()[:5000])
    target.unlink()
    onnx_export._export_here("encoder", location, "int8", target, damaged)
    int8.model = OnnxEncoder(target)
    assert (int8.embed(PASSAGES) * reference).sum(axis=1).min() > 0.97
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_a_model_the_onnx_embedder_cannot_run_is_refused_clearly(tmp_path: Path) -> None:
    folder = tmp_path / "cls-pooled"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "modules.json").write_text(json.dumps([{"path": "", "type": "sentence_transformers.models.Transformer"},
                                                     {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}))
    with pytest.raises(ConfigError, match='mean pooling.*embed_backend = "torch"'):
        OnnxEmbedder(Config(embed_model=str(folder)))


def test_answering_never_imports_torch(tmp_path: Path, embedder) -> None:
    """Index, ask and print through the CLI's own functions in a fresh process: no torch, transformers or s-t,
    on a first run too (the reader's export is missing and runs in a child process) and with the cache filled.
    The embedder's export is copied in (its export is the same code, and costs the suite 8 s)."""
    cache = tmp_path / "first-run-cache"
    (cache / "onnx").mkdir(parents=True)
    shutil.copy2(embedder.model.path, cache / "onnx" / embedder.model.path.name)
    script = f"""
import sys
from pathlib import Path
from rag import Pipeline
from rag.cli import main
pipeline = Pipeline.from_folder({str(SEEDS)!r}, index_dir=Path({str(tmp_path / 'index')!r}),
                                cache_dir=Path({str(cache)!r}))
pipeline.index()
assert pipeline.ask("Where did Ahn Gyu-back and Gen Nakatani meet?").text == "Seoul"
code = main(["ask", "How many sailors were killed in the sinking of the Cheonan?", "--corpus", {str(SEEDS)!r},
             "--index", {str(tmp_path / 'index')!r}, "--json"])
heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)
print("HEAVY", heavy, code)
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "HEAVY [] 0" in done.stdout, done.stdout[-2000:]
    assert '"46"' in done.stdout or "46" in done.stdout
    assert "preparing the fast reader (once" in done.stderr and "preparing the fast embedder" not in done.stderr
    assert len(list((cache / "onnx").glob("*.onnx"))) == 2


def test_quantisation_variants_keep_the_matmuls_they_name(fp32_embedder: OnnxEmbedder) -> None:
    """python -m rag.eval.bench.quant's variants select the MatMuls their names say, in the real export."""
    from rag.eval.bench.quant import VARIANTS
    from rag.onnx_export import _float32_nodes

    kept = {key: _float32_nodes(fp32_embedder.model.path, keep) for key, (_, keep) in VARIANTS.items() if keep is not None}
    assert kept["all"] == []
    for layer in ("layer0", "layer5"):  # 6 weight MatMuls and the 2 of attention scores
        assert len(kept[layer]) == 8 and all(f"layer.{layer[-1]}/" in name for name in kept[layer])
    assert len(kept["qkv"]) == 18 and all("/attention/self/" in name for name in kept["qkv"])
    assert len(kept["attn-out"]) == 6 and all("/attention/output/dense/" in name for name in kept["attn-out"])
    assert len(kept["ffn-in"]) == 6 and all("/intermediate/dense/" in name for name in kept["ffn-in"])
    assert len(kept["ffn-out"]) == 6 and not any("attention" in name for name in kept["ffn-out"])


def test_blockwise_int8_variant_is_made_and_stays_close(tmp_path: Path, fp32_embedder: OnnxEmbedder) -> None:
    """bench_quant's blockwise variant: every weight MatMul becomes MatMulNBits (8 bits, blocks of 32),
    and its vectors stay within a hair of float32 (the reader's logits: docs/performance-history.md)."""
    import onnx

    from rag.eval.bench.blockwise import blockwise_file

    target = tmp_path / "encoder-blockwise.onnx"
    blockwise_file(fp32_embedder.model.path, target)
    ops = [node.op_type for node in onnx.load(str(target)).graph.node]
    assert ops.count("MatMulNBits") == 36  # 6 layers x 6 weight MatMuls
    blockwise = OnnxEmbedder(Config(embed_backend="onnx"))
    blockwise.model = OnnxEncoder(target)
    texts = [*PASSAGES, *_seed_texts()[:2]]
    cosines = (blockwise.embed(texts) * fp32_embedder.embed(texts)).sum(axis=1)
    assert cosines.min() > 0.995, cosines
