"""The settings of a training run: everything that decides the model it makes (a resumed run must match)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TrainSettings:
    train: str
    init: str
    max_length: int = 192
    stride: int = 64
    batch_size: int = 32
    peak_lr: float = 5e-5
    weight_decay: float = 0.01
    warmup: float = 0.05
    epochs: float = 1.0
    max_steps: int = 0  # 0: set by epochs
    deadline_minutes: float = 0.0  # 0: no deadline
    negatives: str = "sibling=0.3,bm25=0.3"  # kind=share of questions, rag/training/negatives.py
    length_sorted: bool = True  # batches of similar-length windows
    limit: int = 0  # 0: all questions (tests use a few)
    seed: int = 42
