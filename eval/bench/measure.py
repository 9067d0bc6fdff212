"""Timing helpers the benchmarks share: p50/p95 of a list of seconds, and timing one call."""

from __future__ import annotations

import platform
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Latency:
    p50_s: float
    p95_s: float



def latency(seconds: Sequence[float]) -> Latency:
    return Latency(float(np.percentile(seconds, 50)), float(np.percentile(seconds, 95)))



def timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def cpu_name() -> str:
    """The CPU as lscpu names it, with family/model, cores and whether it has VNNI: figures are
    compared only between runs on the same CPU."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}
    flags = fields.get("Flags", "").split()
    vnni = "with VNNI" if {"avx512_vnni", "avx_vnni"} & set(flags) else "no VNNI"
    return (f"{fields.get('Model name', 'unknown CPU')} (family {fields.get('CPU family', '?')} model "
            f"{fields.get('Model', '?')}, {fields.get('CPU(s)', '?')} cores, {vnni})")


def wait_for_server(url: str, server: subprocess.Popen, seconds: float) -> None:
    """Wait until ``url`` answers, or stop the benchmark if the server exits or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("rag serve did not start") from None
            time.sleep(0.5)
