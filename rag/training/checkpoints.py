"""Checkpoints that let a run resume after any stop, and the finished model folder rag loads."""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from rag.training.features import Features
from rag.training.settings import TrainSettings

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def save_checkpoint(out: Path, model: Any, optimizer: Any, state: dict[str, Any]) -> None:
    import torch

    name = f"checkpoint-{state['step']:07d}"
    tmp = out / f"{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    torch.save(
        {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
         "numpy_rng": np.random.get_state(), "python_rng": random.getstate()},
        tmp / "state.pt",
    )
    (tmp / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    shutil.rmtree(out / name, ignore_errors=True)
    os.replace(tmp, out / name)
    pointer = out / "LATEST.tmp"
    pointer.write_text(name + "\n", encoding="utf-8")
    os.replace(pointer, out / "LATEST")  # the pointer moves last: a killed save leaves the old one
    for old in out.glob("checkpoint-*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    log.info("saved %s", name)


def latest_checkpoint(out: Path) -> Path | None:
    pointer = out / "LATEST"
    if not pointer.is_file():
        return None
    folder = out / pointer.read_text(encoding="utf-8").strip()
    return folder if (folder / "state.pt").is_file() else None


def restore(checkpoint: Path, model: Any, optimizer: Any, device: str) -> dict[str, Any]:
    import torch

    saved = torch.load(checkpoint / "state.pt", map_location=device, weights_only=False)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["torch_rng"])
    np.random.set_state(saved["numpy_rng"])
    random.setstate(saved["python_rng"])
    return json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))


def write_model(out: Path, model: Any, tokenizer: Any, settings: TrainSettings, state: dict[str, Any], max_steps: int,
                features: Features) -> Path:
    import torch

    folder = out / "model"
    tmp = out / "model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.to("cpu").to(torch.float16).save_pretrained(tmp)  # float16 on disk halves the size
    tokenizer.save_pretrained(tmp)
    record = {
        **state,
        "max_steps": max_steps,
        "windows": len(features.start),
        "negative_pairs": features.negatives,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (tmp / "training_state.json").write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    log.info("model written to %s after %d steps", folder, state["step"])
    return folder
