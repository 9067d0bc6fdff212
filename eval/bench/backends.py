"""PyTorch against ONNX Runtime (float32, int8), side by side in one run: speed, memory and accuracy.

    python -m rag.eval.bench.backends [--backends default,onnx,onnx-int8,torch] [--sizes 2000,10000,20000]
        [--squad-questions 10570] [--requests 500] [--out FILE]

Per backend (the embedder and the reader both on it; ``default`` is rag's default configuration as
it ships, whatever mix of backends that is): cold `rag ask` (a new process, index present,
median of 3), warm `Pipeline.ask` p50/p95 on seeds/ (every gold question, twice), the end-to-end EM/F1
of those answers, the reader alone on SQuAD dev-v1.1 (each question with its own paragraph),
dense recall@5 on seeds/ and on SQuAD dev-v1.1 (its paragraphs as the corpus), embedding
passages/s on SQuAD train passages (every size for the default, the first size for the
others: embedding is linear in passages), and the RSS of `rag serve` after ``--requests`` /ask calls.
Run it by hand on an idle machine (about 30 minutes on 2 cores with the four rows, 2026-12-03).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag import Pipeline
from rag.chunker import chunk
from rag.config import BACKENDS, Config
from rag.corpus import content_hash
from rag.embedder import Embedder, make_embedder, resolved_embed_backend
from rag.eval.bench.measure import Latency, latency, timed
from rag.eval.bench.scale import SQUAD, squad_passages
from rag.eval.bench.squad import evaluate
from rag.eval.gold import load_gold, write_gold
from rag.eval.runner import run_eval
from rag.training.squad import load_squad
from rag.types import Document

REPO = Path(__file__).resolve().parents[2]
COLD_STARTS = 3


@dataclass(frozen=True, slots=True)
class BackendResult:
    backend: str
    default: bool
    cold_ask_s: float
    warm: Latency  # Pipeline.ask total on seeds/
    seeds_em: float  # end to end, every answerable gold question, the configured threshold
    seeds_f1: float
    reader_questions: int
    reader_em: float  # the reader alone on SQuAD dev-v1.1
    reader_f1: float
    reader_questions_per_s: float
    squad_e2e_em: float  # end to end over all of dev-v1.1's articles: every 20th question of the test half
    squad_e2e_f1: float
    seeds_recall_at_5: float  # dense retrieval alone: a passage of the right document in the top 5
    squad_recall_at_5: float
    embed_passages_per_s: dict[int, float]  # passages: passages/s
    serve_rss_mb: float  # VmRSS of `rag serve` after the requests
    serve_peak_rss_mb: float  # VmHWM


DEFAULT = "default"  # the pseudo-backend: Config()'s own embed_backend and reader_backend


def config_for(backend: str, base: Config | None = None) -> Config:
    if backend == DEFAULT:
        return base or Config()
    if backend not in BACKENDS:
        raise ValueError(f"backend must be {DEFAULT} or one of {', '.join(BACKENDS)}, not {backend!r}")
    return dataclasses.replace(base or Config(), embed_backend=backend, reader_backend=backend)


def describe(backend: str) -> str:
    """The row's name: ``default`` says which backends it is made of."""
    embed, read = resolved_embed_backend(Config()), Config().reader_backend
    return backend if backend != DEFAULT else f"default ({embed})" if embed == read else f"default (embedder {embed}, reader {read})"


def run_backend(backend: str, default: bool, sizes: list[int], squad_questions: int, requests: int) -> BackendResult:
    config = config_for(backend)
    gold = REPO / "eval" / "gold.jsonl"
    questions = [q.question for q in load_gold(gold)]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        # The cold `rag ask` reads its backends from this rag.toml; the default row leaves them out.
        settings = "" if backend == DEFAULT else f'embed_backend = "{backend}"\nreader_backend = "{backend}"\n'
        (root / "rag.toml").write_text(settings, encoding="utf-8")
        config = dataclasses.replace(config, corpus_dir=REPO / "seeds", index_dir=root / "index")
        pipeline = Pipeline(config)
        pipeline.index(rebuild=True)  # exports the ONNX files first if they are not cached yet
        colds = [_cold_ask(questions[0], config, root) for _ in range(COLD_STARTS)]
        pipeline.warm_up()
        warm = [pipeline.ask(q).timings["total"] for _ in range(2) for q in questions]
        answerable = run_eval(pipeline, gold).answerable
        seeds_em, seeds_f1 = statistics.fmean(q.em for q in answerable), statistics.fmean(q.f1 for q in answerable)
        seeds_recall = _seeds_recall_at_5(pipeline, gold)
        rss, peak = _serve_rss(config, root, questions, requests)
        squad_e2e = _squad_end_to_end(config, root)
    squad = evaluate(config, load_squad(SQUAD / "dev-v1.1.json", squad_questions))
    embedder = make_embedder(config)
    embedder.embed(["load the model"])
    measured = sizes if default else sizes[:1]
    passages, speeds = squad_passages(SQUAD / "train-v1.1.json", max(measured), config)[0], {}
    for size in measured:
        _, seconds = timed(lambda n=size: embedder.embed([p.text for p in passages[:n]]))
        speeds[size] = size / seconds
    return BackendResult(describe(backend), default, statistics.median(colds), latency(warm), seeds_em, seeds_f1, squad["n"],
                         squad["em"], squad["f1"], squad["questions_per_s"], squad_e2e["em"], squad_e2e["f1"], seeds_recall,
                         _squad_recall_at_5(embedder, config), speeds, rss, peak)


def _cold_ask(question: str, config: Config, cwd: Path) -> float:
    command = [sys.executable, "-m", "rag", "ask", question, "--corpus", str(config.corpus_dir),
               "--index", str(config.index_dir), "-q"]  # cwd holds the rag.toml that picks the backend
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=cwd)
    return time.perf_counter() - started


def _squad_end_to_end(config: Config, work: Path) -> dict[str, float]:
    """rag over a corpus of all 48 dev-v1.1 articles, asked the tuning's test questions (issue 14's protocol)."""
    from rag.eval.bench.corpora import squad_corpus

    corpus = squad_corpus("squad", SQUAD / "dev-v1.1.json", work, dev_sample=0, test_every=20, seed=0)
    gold = work / "squad-test.jsonl"
    write_gold(gold, corpus.test, "test")
    pipeline = Pipeline(dataclasses.replace(config, corpus_dir=corpus.folder, index_dir=work / "squad-index"))
    pipeline.index()
    answerable = run_eval(pipeline, gold).answerable
    return {"em": statistics.fmean(q.em for q in answerable), "f1": statistics.fmean(q.f1 for q in answerable)}


def _seeds_recall_at_5(pipeline: Pipeline, gold: Path) -> float:
    hits = []
    for q in load_gold(gold):
        if q.answerable:
            found = pipeline.search(q.question, 5, retrieval="dense")
            hits.append(any(h.chunk.doc_id in q.doc_ids for h in found))
    return statistics.fmean(hits)


def _squad_recall_at_5(embedder: Embedder, config: Config, questions: int = 2000) -> float:
    """Dense recall@5 over dev-v1.1's paragraphs (each one a document, chunked as rag chunks)."""
    data = json.loads((SQUAD / "dev-v1.1.json").read_text(encoding="utf-8"))["data"]
    passages, asked = [], []
    for a, article in enumerate(data):
        for p, paragraph in enumerate(article["paragraphs"]):
            doc_id = f"{a}/{p}"
            passages += chunk(Document(doc_id, paragraph["context"], content_hash(paragraph["context"])),
                              config.chunk_chars, config.chunk_overlap)
            asked += [(qa["question"], doc_id) for qa in paragraph["qas"]]
    step = max(1, len(asked) // questions)
    asked = asked[::step][:questions]
    vectors = embedder.embed([p.text for p in passages])
    queries = embedder.embed([q for q, _ in asked])
    top = np.argsort(-(queries @ vectors.T), axis=1)[:, :5]
    return float(np.mean([any(passages[j].doc_id == doc for j in row) for row, (_, doc) in zip(top, asked, strict=True)]))


def _serve_rss(config: Config, cwd: Path, questions: list[str], requests: int) -> tuple[float, float]:
    """VmRSS and VmHWM (MiB) of a `rag serve` process after ``requests`` calls of its /ask API."""
    from gradio_client import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "rag", "serve", "--corpus", str(config.corpus_dir), "--index", str(config.index_dir),
         "--port", str(port), "--no-browser"], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("rag serve did not start") from None
                time.sleep(1)
        for i in range(requests):
            client.predict(questions[i % len(questions)], api_name="/ask")
        status = Path(f"/proc/{process.pid}/status").read_text(encoding="ascii")
        fields = {line.split(":")[0]: int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("Vm")}
        return fields["VmRSS"], fields["VmHWM"]
    finally:
        process.terminate()
        process.wait(timeout=30)


def format_table(results: list[BackendResult]) -> str:
    sizes = sorted({n for r in results for n in r.embed_passages_per_s})
    width = max([12, *(len(r.backend) + 2 for r in results)])
    head = (f"{'backend':<{width}} {'cold ask s':>10} {'warm p50 ms':>11} {'p95 ms':>7} {'seeds EM':>8} {'F1':>6} "
            f"{'SQuAD EM':>8} {'F1':>6} {'q/s':>6} {'e2e EM':>6} {'F1':>6} {'R@5 seeds':>9} {'R@5 SQuAD':>9} "
            + " ".join(f"{f'emb/s {n}':>11}" for n in sizes) + f" {'serve RSS':>9} {'peak':>6}")
    lines = [head]
    for r in results:
        speeds = " ".join(f"{r.embed_passages_per_s[n]:11.1f}" if n in r.embed_passages_per_s else f"{'-':>11}" for n in sizes)
        lines.append(
            f"{r.backend + (' *' if r.default else ''):<{width}} {r.cold_ask_s:10.2f} {1e3 * r.warm.p50_s:11.1f} {1e3 * r.warm.p95_s:7.1f} "
            f"{r.seeds_em:8.3f} {r.seeds_f1:6.3f} {r.reader_em:8.3f} {r.reader_f1:6.3f} {r.reader_questions_per_s:6.1f} "
            f"{r.squad_e2e_em:6.3f} {r.squad_e2e_f1:6.3f} "
            f"{r.seeds_recall_at_5:9.3f} {r.squad_recall_at_5:9.3f} {speeds} {r.serve_rss_mb:9.0f} {r.serve_peak_rss_mb:6.0f}"
        )
    n = results[0].reader_questions if results else 0
    lines.append(f"* the default. SQuAD EM/F1: the reader alone, the first {n} dev-v1.1 questions, each with its own "
                 "paragraph; e2e: rag over all dev-v1.1 articles, every 20th question of the second half; seeds EM/F1: "
                 "end to end, answerable gold questions (both at the configured threshold); RSS in MiB.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.eval.bench.backends", description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join((DEFAULT, *BACKENDS)))
    parser.add_argument("--sizes", default="2000,10000,20000", help="embedding throughput at these many passages")
    parser.add_argument("--squad-questions", type=int, default=10570, help="the first N dev-v1.1 questions (all: 10570)")
    parser.add_argument("--requests", type=int, default=500, help="/ask calls before the serve RSS is read")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "rag-bench-backends.json")
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    if set(backends) - {DEFAULT, *BACKENDS}:
        parser.error(f"--backends takes some of {', '.join((DEFAULT, *BACKENDS))}")
    sizes = [int(s) for s in args.sizes.split(",")]
    config = Config()
    # The row measured at every size: the default, or without it the backend the default runs on.
    full = DEFAULT if DEFAULT in backends or config.embed_backend != config.reader_backend else config.reader_backend
    results = []
    for backend in backends:
        print(f"measuring {describe(backend)}", file=sys.stderr, flush=True)
        results.append(run_backend(backend, backend == full, sizes, args.squad_questions, args.requests))
        args.out.write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=2) + "\n", encoding="utf-8")
    print(format_table(results))
    print(f"\nfigures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
