"""int8 variants of the embedder and the reader beside float32, in one run: accuracy lost, speed gained.

    python -m rag.eval.bench.quant [--kinds encoder,qa] [--variants fp32,all,...] [--squad-questions 2000] [--out FILE]

Most variants are ONNX Runtime's dynamic quantisation (per channel, one scale per activation
tensor) of the cached float32 export, some MatMuls kept in float32 (rag/onnx_export.py ships one
variant per model: _FLOAT32_MATMULS). Two are not: static quantisation, the reader only (QDQ:
activations too, their ranges calibrated on the reader's inputs for the seeds dev questions, entropy
method), and blockwise int8 (ONNX Runtime's MatMulNBits: weights and activations in blocks of 32,
each with its own scale; needs the `bench` extra).
Embedder variants: dense recall@5 on seeds/ and on SQuAD dev-v1.1's paragraphs (as
bench_backends measures it), embedding passages/s on the first 2,000 SQuAD train passages, and the
mean cosine of each SQuAD passage's vector to its float32 vector. Reader variants (the default
embedder): end-to-end EM through Pipeline.ask at the shipped settings on the dev parts the tuning
used (seeds' dev split, 250 sampled questions of the first half of dev-v1.1's articles: issue 18's
budget is 0.01 on these), on every answerable seeds question, and the reader alone on the first
``--squad-questions`` dev-v1.1 questions (EM, F1, questions/s). Run it by hand on an idle machine
(about 25 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from rag import Pipeline
from rag.config import Config
from rag.embedder import OnnxEmbedder
from rag.eval.bench.backends import REPO, _seeds_recall_at_5, _squad_recall_at_5
from rag.eval.bench.blockwise import blockwise_file
from rag.eval.bench.measure import timed
from rag.eval.bench.scale import SQUAD, squad_passages
from rag.eval.bench.tune import Corpus, seeds_corpus, squad_corpus
from rag.eval.gold import load_gold, write_gold
from rag.eval.runner import run_eval
from rag.model_paths import embedder_location, reader_location
from rag.onnx_backend import OnnxEncoder, OnnxQaModel
from rag.onnx_export import cached_export, quantize
from rag.reader import ExtractiveReader
from rag.training.squad import load_squad, predict, score

LAYERS = range(6)
# Key: (what it is, the MatMuls kept in float32: substrings of the exported node names; None: all float32).
VARIANTS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "fp32": ("float32", None),
    "all": ("int8, every MatMul", ()),
    "layer0": ("int8, layer 0 float32", ("layer.0/",)),
    "layer5": ("int8, layer 5 float32", ("layer.5/",)),
    "qkv": ("int8, attention Q/K/V float32", ("self/query/", "self/key/", "self/value/")),
    "attn-out": ("int8, attention output float32", ("attention/output/",)),
    "ffn-in": ("int8, FFN in float32", ("intermediate/",)),
    "ffn-out": ("int8, FFN out float32", tuple(f"layer.{i}/output/" for i in LAYERS)),
    "static": ("int8 static (QDQ), seeds-calibrated", ()),  # the reader only: see static_file
    "blockwise": ("int8 blockwise, blocks of 32", ()),  # see blockwise_file
}
STATIC = "static"
BLOCKWISE = "blockwise"


def variant_file(kind: str, location: str, variant: str, work: Path, config: Config) -> Path:
    fp32 = cached_export(kind, location, "fp32", config.cache_dir)
    keep = VARIANTS[variant][1]
    if keep is None:
        return fp32
    target = work / f"{kind}-{variant}.onnx"
    if not target.is_file():
        if variant == STATIC:
            static_file(fp32, target, config, work)
        elif variant == BLOCKWISE:
            blockwise_file(fp32, target)
        else:
            quantize(fp32, target, keep)
    return target


def static_file(fp32: Path, target: Path, config: Config, work: Path) -> None:
    """The reader with int8 weights and activations, activation ranges calibrated on its seeds dev inputs."""
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    reader = ExtractiveReader(dataclasses.replace(config, reader_backend="onnx"))
    batches: list[dict[str, np.ndarray]] = []
    backend = reader.backend
    assert isinstance(backend, OnnxQaModel), "the reader runs on ONNX here"
    run = backend._run

    def recording(inputs: dict[str, np.ndarray]) -> Any:
        batches.append({name: np.asarray(inputs[name], dtype=np.int64) for name in inputs})
        return run(inputs)

    backend._run = recording  # type: ignore[method-assign]
    pipeline = Pipeline(_seeds_config(config, work), reader=reader)
    pipeline.index()
    for question in load_gold(REPO / "eval" / "gold.jsonl"):
        if question.split == "dev":
            pipeline.ask(question.question)
    # One window per row, all padded to one length: the histogram calibrators need one shape.
    length = max(b["input_ids"].shape[1] for b in batches)
    rows = [{name: np.pad(b.get(name, np.zeros_like(b["input_ids"]))[i:i + 1], ((0, 0), (0, length - b["input_ids"].shape[1])))
             for name in ("input_ids", "attention_mask", "token_type_ids")} for b in batches for i in range(len(b["input_ids"]))]

    class Feeds(CalibrationDataReader):
        def __init__(self) -> None:
            self._rows = iter(rows)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._rows, None)

    prepared = target.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
    quantize_static(str(prepared), str(target), Feeds(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["MatMul"],
                    per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                    calibrate_method=CalibrationMethod.Entropy)


def embedder_rows(config: Config, work: Path, variants: list[str]) -> list[dict[str, Any]]:
    location = embedder_location(config.embed_model)[1]
    gold = REPO / "eval" / "gold.jsonl"
    passages, _ = squad_passages(SQUAD / "train-v1.1.json", 2000, config)
    texts = [p.text for p in passages[:2000]]
    reference: np.ndarray | None = None
    rows: list[dict[str, Any]] = []
    for variant in (v for v in variants if v != STATIC):  # static quantisation: the reader only
        path, name = variant_file("encoder", location, variant, work, config), VARIANTS[variant][0]
        embedder = OnnxEmbedder(dataclasses.replace(config, embed_backend="onnx"))
        embedder.__dict__["model"] = OnnxEncoder(path)  # the variant in place of the cached export
        embedder.embed(["load the model"])
        vectors, seconds = timed(lambda e=embedder: e.embed(texts))
        reference = vectors if reference is None else reference
        pipeline = Pipeline(dataclasses.replace(config, corpus_dir=REPO / "seeds", index_dir=work / f"seeds-{len(rows)}"),
                            embedder=embedder)
        pipeline.index(rebuild=True)
        rows.append({"model": "embedder", "variant": name, "file_mb": path.stat().st_size / 1e6,
                     "seeds_recall_at_5": _seeds_recall_at_5(pipeline, gold),
                     "squad_recall_at_5": _squad_recall_at_5(embedder, config),
                     "passages_per_s": len(texts) / seconds,
                     "cosine_to_float32": float(np.mean(np.sum(vectors * reference, axis=1)))})
        print(f"embedder {name}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def reader_rows(config: Config, work: Path, variants: list[str], squad_questions: int) -> list[dict[str, Any]]:
    location = reader_location(config.reader_model)[1]
    gold = REPO / "eval" / "gold.jsonl"
    dev_parts = [seeds_corpus(gold, REPO / "seeds", work), squad_corpus("squad-v1.1", SQUAD / "dev-v1.1.json", work, 250, 1, 0)]
    examples = load_squad(SQUAD / "dev-v1.1.json", squad_questions)
    rows = []
    for variant in variants:
        path, name = variant_file("qa", location, variant, work, config), VARIANTS[variant][0]
        reader = ExtractiveReader(dataclasses.replace(config, reader_backend="onnx"))
        reader.__dict__["backend"] = OnnxQaModel(path)  # the variant in place of the cached export
        dev = {c.name: _dev_em(config, c, reader) for c in dev_parts}
        seeds = Pipeline(_seeds_config(config, work), reader=reader)
        seeds.index()
        answerable = run_eval(seeds, gold).answerable
        predictions, seconds = predict(reader, examples)
        alone = score(examples, predictions)
        rows.append({"model": "reader", "variant": name, "file_mb": path.stat().st_size / 1e6,
                     "seeds_dev_em": dev["seeds"], "squad_dev_em": dev["squad-v1.1"],
                     "seeds_em": statistics.fmean(q.em for q in answerable),
                     "reader_em": alone["em"], "reader_f1": alone["f1"], "questions_per_s": len(examples) / seconds})
        print(f"reader {name}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def _seeds_config(config: Config, work: Path) -> Config:
    """seeds/ with the index every reader variant shares (the one the seeds dev part uses)."""
    return dataclasses.replace(config, corpus_dir=REPO / "seeds", index_dir=work / "seeds" / "index")


def _dev_em(config: Config, corpus: Corpus, reader: ExtractiveReader) -> float:
    """End-to-end EM (abstentions count as wrong) on the answerable dev questions of ``corpus``."""
    gold = corpus.work / "gold-dev.jsonl"
    write_gold(gold, corpus.dev, "dev")
    pipeline = Pipeline(dataclasses.replace(config, corpus_dir=corpus.folder, index_dir=corpus.work / "index"), reader=reader)
    pipeline.index()
    return statistics.fmean(q.em for q in run_eval(pipeline, gold, split="dev").answerable)


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = []
    embedders = [r for r in rows if r["model"] == "embedder"]
    if embedders:
        lines.append(f"{'embedder':<32} {'MB':>5} {'R@5 seeds':>9} {'R@5 SQuAD':>9} {'passages/s':>10} {'cos fp32':>8}")
        lines += [f"{r['variant']:<32} {r['file_mb']:5.0f} {r['seeds_recall_at_5']:9.3f} {r['squad_recall_at_5']:9.4f} "
                  f"{r['passages_per_s']:10.1f} {r['cosine_to_float32']:8.4f}" for r in embedders]
    readers = [r for r in rows if r["model"] == "reader"]
    if readers:
        lines.append(f"{'reader':<32} {'MB':>5} {'dev EM seeds':>12} {'SQuAD':>6} {'seeds EM':>8} "
                     f"{'alone EM':>8} {'F1':>6} {'q/s':>6}")
        lines += [f"{r['variant']:<32} {r['file_mb']:5.0f} {r['seeds_dev_em']:12.3f} {r['squad_dev_em']:6.3f} "
                  f"{r['seeds_em']:8.3f} {r['reader_em']:8.4f} {r['reader_f1']:6.4f} {r['questions_per_s']:6.1f}"
                  for r in readers]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.eval.bench.quant", description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="encoder,qa", help="encoder (the embedder), qa (the reader), or both")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="some of " + ", ".join(VARIANTS) + " (fp32 first: the reference)")
    parser.add_argument("--squad-questions", type=int, default=2000, help="the reader alone on the first N dev-v1.1 questions")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "rag-bench-quant.json")
    args = parser.parse_args(argv)
    kinds = set(args.kinds.split(","))
    if not kinds or kinds - {"encoder", "qa"}:
        parser.error("--kinds takes encoder, qa or both")
    variants = args.variants.split(",")
    if set(variants) - set(VARIANTS):
        parser.error(f"--variants takes some of {', '.join(VARIANTS)}")
    config = Config()  # the shipped settings, not a rag.toml in the working directory
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        if "encoder" in kinds:
            rows += embedder_rows(config, Path(scratch), variants)
        if "qa" in kinds:
            rows += reader_rows(config, Path(scratch), variants, args.squad_questions)
    args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print(format_table(rows))
    print(f"\nfigures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
