"""The training script on a tiny slice: labels, negatives, schedule, resume after an interruption or a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from eval.train_reader import TrainSettings, _label, _negative_pairs, _schedule, train
from eval.squad_data import load_squad
from rag import Config
from rag.reader import ExtractiveReader
from rag.types import Chunk

# The first 2 articles of SQuAD v1.1 train, shipped with the tests (tests/data/README.md).
TRAIN = Path(__file__).resolve().parent / "data" / "squad-train-v1.1-slice.json"
TINY = dict(train=str(TRAIN), init="shipped", limit=24, max_steps=6, batch_size=4, max_length=96, stride=32)



def _weights(folder: Path) -> dict[str, np.ndarray]:
    return load_file(str(folder / "model.safetensors"))


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_label_marks_answer_tokens_or_cls() -> None:
    sequence_ids = [None, 0, 0, None, 1, 1, 1, None]
    offsets = [(0, 0), (0, 4), (5, 8), (0, 0), (0, 3), (4, 10), (11, 15), (0, 0)]
    assert _label(sequence_ids, offsets, 4, 10) == (5, 5)
    assert _label(sequence_ids, offsets, 0, 10) == (4, 5)
    assert _label(sequence_ids, offsets, 12, 20) == (0, 0)  # runs past the window
    assert _label(sequence_ids, offsets, -1, -1) == (0, 0)  # a negative


def test_schedule_warms_up_then_decays_to_zero() -> None:
    assert _schedule(0.0, 0.1) == 0.0 and _schedule(0.05, 0.1) == pytest.approx(0.5)
    assert _schedule(0.1, 0.1) == pytest.approx(1.0) and _schedule(0.55, 0.1) == pytest.approx(0.5)
    assert _schedule(1.0, 0.1) == 0.0


def test_negatives_lack_the_answer() -> None:
    settings = TrainSettings(**{**TINY, "limit": 300, "negative_share": 1.0})
    examples = load_squad(TRAIN, 300)
    answers = {e.question: e.answers[0].lower() for e in examples}
    contexts = {e.question: e.context for e in examples}
    pairs = _negative_pairs(examples, settings)
    assert len(pairs) > 300  # a same-article paragraph and a BM25 one for most questions
    for question, paragraph in pairs:
        assert answers[question] not in paragraph.lower() and paragraph != contexts[question]


def test_resume_after_stop_gives_the_same_model(tmp_path: Path) -> None:
    settings = TrainSettings(**TINY)
    straight = train(settings, tmp_path / "straight")
    assert train(settings, tmp_path / "resumed", stop_after_steps=3) is None
    assert (tmp_path / "resumed" / "LATEST").read_text().strip() == "checkpoint-0000003"
    resumed = train(settings, tmp_path / "resumed")
    assert straight is not None and resumed is not None
    assert _same(_weights(straight), _weights(resumed))
    # The finished model is one rag's reader loads.
    reader = ExtractiveReader(Config(reader_model=str(resumed), reader_backend="torch"))
    text = "The Cheonan warship was sunk in 2010."
    assert reader.read("When was the Cheonan sunk?", [Chunk("d", 0, 0, len(text), text)])


def test_resume_after_kill(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "eval.train_reader", "--train", str(TRAIN), "--limit", "24", "--max-steps", "8",
            "--batch-size", "4", "--max-length", "96", "--stride", "32", "--save-every-minutes", "0"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    killed = tmp_path / "killed"
    process = subprocess.Popen([*args, "--out", str(killed)], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint-0000003").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "model").exists(), "killed before it finished"
    subprocess.run([*args, "--out", str(killed)], env=env, check=True, stderr=subprocess.DEVNULL, timeout=300)
    subprocess.run([*args, "--out", str(tmp_path / "straight")], env=env, check=True, stderr=subprocess.DEVNULL, timeout=300)
    assert _same(_weights(killed / "model"), _weights(tmp_path / "straight" / "model"))
