"""The training script on a tiny slice: labels, negatives, batches, schedule, status, resume after an interruption or a kill."""

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

from rag import Config
from rag.reader import ExtractiveReader
from rag.training.features import epoch_order, label_window
from rag.training.negatives import NEGATIVE_KINDS, mine_negatives, parse_shares
from rag.training.progress import DevSets, status
from rag.training.settings import TrainSettings
from rag.training.squad import SquadExample, load_squad
from rag.training.train import _schedule, main, train
from rag.types import Chunk

# A real browser, Milvus, wheel build or training run: the README's test command runs it, the quick tier does not.
pytestmark = pytest.mark.e2e

# The first 2 articles of SQuAD v1.1 train, shipped with the tests (tests/data/README.md).
TRAIN = Path(__file__).resolve().parent / "data" / "squad-train-v1.1-slice.json"
DEV = Path(__file__).resolve().parent / "data" / "squad-dev-v1.1-slice.json"
TINY = dict(train=str(TRAIN), init="shipped", limit=24, max_steps=6, batch_size=4, max_length=96, stride=32)


def _weights(folder: Path) -> dict[str, np.ndarray]:
    return load_file(str(folder / "model.safetensors"))


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_label_marks_answer_tokens_or_cls() -> None:
    sequence_ids = [None, 0, 0, None, 1, 1, 1, None]
    offsets = [(0, 0), (0, 4), (5, 8), (0, 0), (0, 3), (4, 10), (11, 15), (0, 0)]
    assert label_window(sequence_ids, offsets, 4, 10) == (5, 5)
    assert label_window(sequence_ids, offsets, 0, 10) == (4, 5)
    assert label_window(sequence_ids, offsets, 12, 20) == (0, 0)  # runs past the window
    assert label_window(sequence_ids, offsets, -1, -1) == (0, 0)  # a negative


def test_schedule_warms_up_then_decays_to_zero() -> None:
    assert _schedule(0.0, 0.1) == 0.0 and _schedule(0.05, 0.1) == pytest.approx(0.5)
    assert _schedule(0.1, 0.1) == pytest.approx(1.0) and _schedule(0.55, 0.1) == pytest.approx(0.5)
    assert _schedule(1.0, 0.1) == 0.0


def test_negatives_of_every_kind_lack_the_answer() -> None:
    examples = load_squad(TRAIN, 300)
    by_question = {e.question: e for e in examples}
    negatives = mine_negatives(examples, {kind: 1.0 for kind in NEGATIVE_KINDS}, seed=1)
    kinds = {kind: [n for n in negatives if n.kind == kind] for kind in NEGATIVE_KINDS}
    assert all(len(kinds[k]) > 100 for k in NEGATIVE_KINDS), {k: len(v) for k, v in kinds.items()}
    for n in negatives:
        e = by_question[n.question]
        assert e.answers[0].lower() not in n.context.lower() and n.context != e.context
    # A near miss: the question's own paragraph, less the sentence that holds the answer.
    for n in kinds["removed"]:
        e = by_question[n.question]
        assert len(n.context) < len(e.context)
        assert all(word in e.context for word in n.context.split())
    # What rag's retriever returns: passages no longer than its chunks, mostly from the question's article.
    assert all(len(n.context) <= 600 for n in kinds["retrieved"])
    # Reproducible, and shares choose how many questions get one.
    assert mine_negatives(examples, {"removed": 1.0}, seed=1) == kinds["removed"]
    assert 0 < len(mine_negatives(examples, {"removed": 0.2}, seed=1)) < len(kinds["removed"]) / 2


def test_negative_shares_are_checked() -> None:
    assert parse_shares("removed=0.3, retrieved=1") == {"removed": 0.3, "retrieved": 1.0}
    assert parse_shares("") == {}
    for bad in ("nearby=0.3", "removed=lots", "removed=1.5"):
        with pytest.raises(ValueError):
            parse_shares(bad)
    with pytest.raises(SystemExit):
        main(["--train", str(TRAIN), "--out", "/nonexistent/x", "--negatives", "nearby=0.3"])


def test_length_sorted_batches_pad_less_and_still_cover_every_window() -> None:
    lengths = [int(x) for x in np.random.default_rng(0).integers(20, 200, size=1000)]

    def padding(order: list[int], size: int) -> int:
        batches = [order[i : i + size] for i in range(0, len(order), size)]
        return sum(max(lengths[r] for r in b) * len(b) - sum(lengths[r] for r in b) for b in batches)

    sorted_settings = TrainSettings(train="", init="", batch_size=8, length_sorted=True)
    random_settings = TrainSettings(train="", init="", batch_size=8, length_sorted=False)
    by_length = epoch_order(lengths, sorted_settings, 2000)
    shuffled = epoch_order(lengths, random_settings, 2000)
    assert sorted(by_length[:1000]) == list(range(1000)) and sorted(by_length[1000:2000]) == list(range(1000))
    assert by_length[:1000] != by_length[1000:2000]  # each epoch mixed anew
    assert padding(by_length[:1000], 8) < padding(shuffled[:1000], 8) / 5
    assert by_length == epoch_order(lengths, sorted_settings, 2000)  # resumable: the same order again


def test_status_shows_steps_loss_and_dev_scores(tmp_path: Path) -> None:
    assert "no training run" in status(tmp_path / "none")
    dev_v1 = load_squad(DEV, 12)
    # Unanswerable questions made from the slice: each question with a paragraph of the other article.
    other = [e for e in load_squad(DEV) if e.article == 1][:6]
    dev_v2 = dev_v1[:6] + [SquadExample(f"n{i}", q.question, o.context, (), -1, 0, 0) for i, (q, o) in enumerate(zip(dev_v1, other))]
    dev = DevSets(dev_v1, dev_v2, every_s=1e9)
    settings = TrainSettings(**{**TINY, "max_steps": 16, "batch_size": 2, "max_length": 64, "negatives": "removed=0.5,retrieved=0.5"})
    assert train(settings, tmp_path / "run", dev=dev) == tmp_path / "run" / "model"
    text = status(tmp_path / "run")
    assert "step 16/16" in text and "loss" in text and "epoch" in text
    assert "v1_f1" in text and "v2_no_ans_accuracy" in text
    assert "finished" in text


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TINY run trained without a break: what a stopped or killed run must end as."""
    model = train(TrainSettings(**TINY), tmp_path_factory.mktemp("straight"))
    assert model is not None
    return model


def test_resume_after_stop_gives_the_same_model(tmp_path: Path, straight: Path) -> None:
    settings = TrainSettings(**TINY)
    assert train(settings, tmp_path / "resumed", stop_after_steps=3) is None
    assert (tmp_path / "resumed" / "LATEST").read_text().strip() == "checkpoint-0000003"
    stopped = status(tmp_path / "resumed")
    assert "stopped: run the same command to resume" in stopped and "step 3/6" in stopped
    resumed = train(settings, tmp_path / "resumed")
    assert resumed is not None
    assert _same(_weights(straight), _weights(resumed))
    # The finished model is one rag's reader loads.
    reader = ExtractiveReader(Config(reader_model=str(resumed), reader_backend="torch"))
    text = "The Cheonan warship was sunk in 2010."
    assert reader.read("When was the Cheonan sunk?", [Chunk("d", 0, 0, len(text), text)])


def test_resume_after_kill(tmp_path: Path, straight: Path) -> None:
    """`kill -9` in the middle of the CLI's run; the rerun (in-process here: the same train() the CLI calls,
    without importing torch in a second process) ends with the weights of the run that was never killed."""
    killed = tmp_path / "killed"
    args = [sys.executable, "-m", "rag.training.train", "--train", str(TRAIN), "--limit", str(TINY["limit"]),
            "--max-steps", str(TINY["max_steps"]), "--batch-size", str(TINY["batch_size"]), "--max-length",
            str(TINY["max_length"]), "--stride", str(TINY["stride"]), "--save-every-minutes", "0", "--out", str(killed)]
    process = subprocess.Popen(args, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint-0000003").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "model").exists(), "killed before it finished"
    resumed = train(TrainSettings(**TINY), killed)
    assert resumed is not None and _same(_weights(resumed), _weights(straight))


def test_status_of_a_run_with_a_deadline_counts_down_to_it(tmp_path: Path) -> None:
    settings = TrainSettings(**{**TINY, "max_steps": 1_000_000, "deadline_minutes": 600.0})
    assert train(settings, tmp_path / "run", stop_after_steps=2) is None
    text = status(tmp_path / "run")
    hours_left = float(text.split("about ", 1)[1].split(" h left", 1)[0])
    assert 9.5 <= hours_left <= 10.0, text  # the deadline's 10 h, not a million steps at this speed
