"""Timing helpers the benchmarks share: p50/p95 of a list of seconds, and timing one call."""

from __future__ import annotations

import time
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
