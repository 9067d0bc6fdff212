"""rag on a folder of many documents: what a first index, a question and a one-file change cost at 1k,
3k and 10k files, written into docs/.

    python -m rag.eval.bench.files --squad ../shared/data/squad/train-v1.1.json \\
        [--sizes 1000,3000,10000] [--work /tmp/rag-files] --out docs/scale-files.md

The corpora are eval/bench/file_corpus.py's (mixed .txt/.md/.html/.pdf/.docx, 1 KB-1 MB; the smaller are
the first files of the larger, hard-linked). Every figure is a real `rag` process: the first
`rag index` (time, passages/s, peak RSS, size on disk), `rag ask` cold with nothing changed (beside
`rag ask` on seeds/, in the same run), warm `Pipeline.ask` p50 (beside seeds/), and one file
changed: a new `rag ask` about the change, and the time from the change until a running `rag serve`
answers from it; then issue 31's targets, each judged. The FAISS store by default; --store
milvus-lite or milvus-server measures Milvus instead. Run it by hand on an idle machine; the 10k-file index takes ~20 minutes on 2 cores.
The work folder's indexes and corpora are made afresh by each run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from rag.eval.bench.file_corpus import make_corpus
from rag.eval.bench.files_report import plot, report
from rag.eval.bench.measure import wait_for_server

_SEEDS = Path(__file__).resolve().parents[2] / "seeds"
STORES = {"faiss": "FAISS store", "milvus-lite": "Milvus Lite store (a file in the index folder)",
          "milvus-server": "Milvus server store (the `milvus` package's server, its default settings)"}
_FACT = "The harbour master of Ulsan in 2031 was Kim Da-eun, the ministry said."
_FACT_QUESTION = "Who was the harbour master of Ulsan in 2031?"
_SERVE_FACT = "The lighthouse of Geomundo was repainted by Captain Ryu Han-sol in 2032."
_SERVE_QUESTION = "Who repainted the lighthouse of Geomundo?"
_WARM = """
import json, sys, time
from pathlib import Path
from rag import load_config, Pipeline
corpus, index, questions, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
qa = Pipeline(load_config(Path(config) if config else None, corpus_dir=Path(corpus), index_dir=Path(index)))
qa.warm_up()
for q in questions[:3]:
    qa.ask(q)
seconds = []
for q in questions:
    started = time.perf_counter(); qa.ask(q); seconds.append(time.perf_counter() - started)
print(json.dumps(seconds))
"""


def run(args: list[str], **kwargs: Any) -> tuple[float, int, str]:
    """Run a command to its end: (seconds, peak RSS in KiB of that process, stdout)."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"}, **kwargs)
    out = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} … exited {process.returncode}")
    return time.perf_counter() - started, usage.ru_maxrss, out


def rag(*args: str) -> list[str]:
    return [sys.executable, "-m", "rag", *args]


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def replace_text(path: Path, text: str) -> None:
    """Write through a new file, so a hard-linked copy in a larger corpus is not changed."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def corpus_of(files: Path, work: Path, size: int) -> Path:
    """The first ``size`` files, hard-linked afresh (a run edits some: they start as made)."""
    corpus = work / f"corpus-{size}"
    shutil.rmtree(corpus, ignore_errors=True)
    if not corpus.exists():
        for path in sorted(files.rglob("*")):
            if path.is_file() and int(path.stem.removeprefix("doc")) < size:
                target = corpus / path.relative_to(files)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, target)
    return corpus


def store_config(work: Path, name: str, store: str, uri: str) -> list[str]:
    """The flags that put an index on ``store``: none for FAISS; for Milvus a config file naming the
    store, the server's address and a collection of the index's own."""
    if store == "faiss":
        return []
    path = work / f"{name}.toml"
    path.write_text(f'store = "milvus"\nstore_uri = "{uri}"\nmilvus_collection = "bench_{name.replace("-", "_")}"\n',
                    encoding="utf-8")
    return ["--config", str(path)]


@contextmanager
def milvus_server(work: Path) -> Iterator[str]:
    """A Milvus server as the `milvus` package ships it (its default settings), with empty data."""
    import milvus

    server = milvus.default_server
    base = work / "milvus-server"
    shutil.rmtree(base, ignore_errors=True)
    server.set_base_dir(str(base))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        server.listen_port = s.getsockname()[1]
    server.start()
    try:
        yield f"http://127.0.0.1:{server.listen_port}"
    finally:
        server.stop()


def serve_update_seconds(corpus: Path, index: Path, changed: Path, flags: list[str]) -> tuple[float, bool]:
    from gradio_client import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(rag("serve", "--corpus", str(corpus), "--index", str(index), "--port", str(port),
                                  "--no-browser", "-q", *flags),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_server(url, server, 600)
        client = Client(url, verbose=False)
        client.predict(_SERVE_QUESTION, api_name="/ask")
        replace_text(changed, changed.read_text(encoding="utf-8") + "\n\n" + _SERVE_FACT + "\n")
        started = time.perf_counter()
        while time.perf_counter() - started < 120:
            answer = client.predict(_SERVE_QUESTION, api_name="/ask")["answer"] or ""
            if "Ryu Han-sol" in answer:
                return time.perf_counter() - started, True
            time.sleep(0.2)
        return time.perf_counter() - started, False
    finally:
        server.terminate()
        server.wait(timeout=60)


def measure(size: int, files: Path, work: Path, questions: list[dict], seeds: tuple[Path, list[str]],
            seeds_questions: list[str], store: tuple[str, str]) -> dict[str, Any]:
    corpus = corpus_of(files, work, size)
    index = work / f"index-{size}"
    shutil.rmtree(index, ignore_errors=True)  # a first index, from nothing
    flags = store_config(work, f"index-{size}", *store)
    seeds_index, seeds_flags = seeds
    seconds, rss, out = run(rag("index", "--json", "-q", "--corpus", str(corpus), "--index", str(index), *flags))
    passages = json.loads(out)["passages_embedded"]
    disk = folder_bytes(index) + (folder_bytes(work / "milvus-server") if store[0] == "milvus" and store[1] else 0)
    mine = [q["question"] for q in questions if int(Path(q["doc_id"]).stem.removeprefix("doc")) < size][:20]
    cold, cold_seeds = [], []
    for _ in range(3):
        cold.append(run(rag("ask", "-q", mine[0], "--corpus", str(corpus), "--index", str(index), *flags))[0])
        cold_seeds.append(run(rag("ask", "-q", seeds_questions[0], "--corpus", str(_SEEDS), "--index", str(seeds_index),
                                  *seeds_flags))[0])
    config = flags[1] if flags else ""
    warm = json.loads(run([sys.executable, "-c", _WARM, str(corpus), str(index), json.dumps(mine), config])[2])
    seeds_config = seeds_flags[1] if seeds_flags else ""
    warm_seeds = json.loads(run([sys.executable, "-c", _WARM, str(_SEEDS), str(seeds_index), json.dumps(seeds_questions),
                                 seeds_config])[2])
    txt = sorted(corpus.rglob("*.txt"))
    replace_text(txt[0], txt[0].read_text(encoding="utf-8") + "\n\n" + _FACT + "\n")
    changed_seconds, _, changed_out = run(rag("ask", "-q", "--json", _FACT_QUESTION, "--corpus", str(corpus),
                                              "--index", str(index), *flags))
    serve_seconds, serve_ok = serve_update_seconds(corpus, index, txt[1], flags)
    return {
        "files": size, "corpus_mb": folder_bytes(corpus) / 1e6, "passages": passages,
        "index_seconds": seconds, "passages_per_second": passages / seconds, "index_peak_rss_mb": rss / 1024,
        "index_mb": disk / 1e6,
        "cold_ask_seconds": statistics.median(cold), "cold_ask_seeds_seconds": statistics.median(cold_seeds),
        "warm_p50_ms": 1000 * statistics.median(warm), "warm_p50_seeds_ms": 1000 * statistics.median(warm_seeds),
        "changed_ask_seconds": changed_seconds,
        "changed_answered": "Kim Da-eun" in (json.loads(changed_out).get("answer") or ""),
        "serve_change_seconds": serve_seconds, "serve_answered": serve_ok,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.eval.bench.files", description=__doc__.split("\n")[0])
    parser.add_argument("--squad", type=Path, required=True, help="SQuAD train-v1.1.json")
    parser.add_argument("--sizes", default="1000,3000,10000")
    parser.add_argument("--store", choices=STORES, default="faiss",
                        help="faiss (default), milvus-lite (a Lite file in each index folder), or milvus-server "
                             "(a server the `milvus` package starts, as the tests do)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/rag-files"))
    parser.add_argument("--out", type=Path, default=Path("docs/scale-files.md"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    files = args.work / "files"
    questions = make_corpus(args.squad, sizes[-1], files)
    with milvus_server(args.work) if args.store == "milvus-server" else nullcontext("") as uri:
        store = ("faiss", "") if args.store == "faiss" else ("milvus", uri)
        seeds_index = args.work / "index-seeds"
        shutil.rmtree(seeds_index, ignore_errors=True)
        seeds_flags = store_config(args.work, "index-seeds", *store)
        run(rag("index", "-q", "--corpus", str(_SEEDS), "--index", str(seeds_index), *seeds_flags))
        gold = [json.loads(line) for line in (Path(__file__).parents[1] / "gold.jsonl").read_text(encoding="utf-8").splitlines()
                if line.strip()]
        seeds_questions = [g["question"] for g in gold][:20]
        rows = []
        for size in sizes:
            rows.append(measure(size, files, args.work, questions, (seeds_index, seeds_flags), seeds_questions, store))
            print(json.dumps(rows[-1]), flush=True)
    command = "python -m rag.eval.bench.files --squad " + str(args.squad) + (
        f" --sizes {args.sizes}" if args.sizes != "1000,3000,10000" else "") + (
        f" --store {args.store}" if args.store != "faiss" else "") + f" --out {args.out}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image = args.out.with_suffix(".png")
    args.out.write_text(report(rows, command, (time.perf_counter() - started) / 60, STORES[args.store], image.name),
                        encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    plot(rows, image)
    print(args.out.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
