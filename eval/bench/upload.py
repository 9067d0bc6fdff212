"""Questions while a large upload is indexed: the web chat's /ask latency idle and during the upload.

    python -m rag.eval.bench.upload [--upload-kb 1000] [--out docs/upload-latency.md]

Starts `rag serve` over a copy of seeds/ (uploads allowed up to twice the upload's size), asks the
same question through /ask (gradio_client) 20 times idle, then uploads one generated document of
varied sentences in headless Chromium (as a user does) and keeps asking until the chat says it was
added. Needs the test extra (Playwright, and Chromium from tests/install_chromium.sh). Run it by hand
on an idle machine: every question is timed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rag.eval.bench.measure import cpu_name, wait_for_server

QUESTION = "Where did Ahn Gyu-back and Gen Nakatani meet?"
_SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def long_log(entries: int) -> str:
    """A long document of varied sentences (nothing repeats, so every passage is embedded)."""
    return "\n".join(
        f"Entry {i}: the harbour office at pier {i % 97} logged the freighter {i * 7919 % 100_003} arriving "
        f"from port {i * 104_729 % 9_973} with {i * 31 % 887} containers and a crew of {i % 41 + 3}."
        for i in range(entries)
    )


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.eval.bench.upload", description=__doc__.split("\n")[0])
    parser.add_argument("--upload-kb", type=int, default=1000, help="size of the uploaded document (default 1000)")
    parser.add_argument("--out", type=Path, default=Path("docs/upload-latency.md"))
    args = parser.parse_args(argv)
    from gradio_client import Client
    from playwright.sync_api import FilePayload, sync_playwright

    data = long_log(args.upload_kb * 1000 // 133).encode()
    with tempfile.TemporaryDirectory(prefix="rag-bench-upload-") as scratch:
        root = Path(scratch)
        shutil.copytree(_SEEDS, root / "corpus")
        (root / "rag.toml").write_text(f"max_upload_bytes = {2 * len(data)}\n", encoding="utf-8")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"http://127.0.0.1:{port}/"
        server = subprocess.Popen(
            [sys.executable, "-m", "rag", "serve", "--corpus", str(root / "corpus"), "--index", str(root / "index"),
             "--config", str(root / "rag.toml"), "--port", str(port), "--no-browser", "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        try:
            wait_for_server(url, server, 300)
            client = Client(url, verbose=False)

            def ask() -> float:
                started = time.perf_counter()
                client.predict(QUESTION, api_name="/ask")
                return time.perf_counter() - started

            for _ in range(5):
                ask()  # warm
            idle = [ask() for _ in range(20)]
            browser_path = os.environ.get("RAG_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=browser_path,
                                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
                page = browser.new_page()
                page.goto(url)
                page.get_by_text("Add documents").click()
                started = time.perf_counter()
                upload: FilePayload = {"name": "harbour-log.txt", "mimeType": "text/plain", "buffer": data}
                page.locator("#upload input[type=file]").set_input_files([upload])
                during = []
                while "Added: uploads/harbour-log.txt" not in page.locator("#upload-status").inner_text():
                    during.append(ask())
                upload_seconds = time.perf_counter() - started
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)

    def ms(values: list[float]) -> str:
        return f"p50 {1000 * statistics.median(values):.0f} ms, p95 {1000 * p95(values):.0f} ms, max {1000 * max(values):.0f} ms"

    report = (
        "<!-- written by: python -m rag.eval.bench.upload"
        + (f" --upload-kb {args.upload_kb}" if args.upload_kb != 1000 else "") + f" --out {args.out} -->\n\n"
        f"# /ask while a large upload is indexed\n\nMeasured {time.strftime('%Y-%m-%d')} on {cpu_name()}.\n\n"
        f"`rag serve` over seeds/; the question \"{QUESTION}\" through /ask (gradio_client).\n\n"
        f"| | asks | latency |\n| --- | --- | --- |\n"
        f"| idle | {len(idle)} | {ms(idle)} |\n"
        f"| while a {len(data) / 1000:.0f} KB upload is indexed ({upload_seconds:.1f} s in all) | {len(during)} | "
        f"{ms(during) if during else '—'} |\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
