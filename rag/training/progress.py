"""Where a run stands: dev scores on the tuning halves while training, OUT/progress.json, and ``--status``."""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.reader import ExtractiveReader
from rag.training.squad import SquadExample, load_squad


@dataclass(frozen=True, slots=True)
class DevSets:
    """Samples of the tuning halves of dev-v1.1 and dev-v2.0, scored while training."""

    v1: list[SquadExample]
    v2: list[SquadExample]
    every_s: float

    @classmethod
    def load(cls, v1: Path | None, v2: Path | None, questions: int, every_s: float, seed: int) -> DevSets:
        return cls(_tuning_sample(v1, questions, seed), _tuning_sample(v2, questions, seed), every_s)

    def __bool__(self) -> bool:
        return bool(self.v1 or self.v2)


def _tuning_sample(path: Path | None, questions: int, seed: int) -> list[SquadExample]:
    """``questions`` drawn from the first half of the file's articles (the half tuning may look at)."""
    if path is None:
        return []
    examples = load_squad(path)
    half = (max(e.article for e in examples) + 1) // 2
    tuning = [e for e in examples if e.article < half]
    return random.Random(seed).sample(tuning, min(questions, len(tuning)))


def score_dev(model: Any, tokenizer: Any, dev: DevSets, device: str) -> dict[str, float]:
    """The model as rag reads with it (rag's reader, windows of 256) on the dev samples: v1.1 EM/F1;
    v2.0 HasAns F1 and NoAns accuracy at the probability threshold best on that sample."""
    from tokenizers import Tokenizer

    from rag import Config
    from rag.model_paths import SHIPPED_READER_DIR
    from rag.tokenization import configured
    from rag.training.squad import abstention_scores, best_threshold, predict, score

    model.eval()
    reader = ExtractiveReader(Config(reader_model=str(SHIPPED_READER_DIR), reader_backend="torch"))
    # The model being trained, not the one on disk; rag reads with the Rust tokenizer inside transformers' one.
    reader.__dict__["tokenizer"] = configured(Tokenizer.from_str(tokenizer.backend_tokenizer.to_str()))
    reader.__dict__["backend"] = _DeviceQaModel(model, device)
    scores: dict[str, float] = {}
    if dev.v1:
        predictions, _ = predict(reader, dev.v1)
        scores.update({f"v1_{k}": v for k, v in score(dev.v1, predictions).items()})
    if dev.v2:
        predictions, _ = predict(reader, dev.v2)
        at = abstention_scores(dev.v2, predictions, best_threshold(dev.v2, predictions))
        scores.update(v2_has_ans_f1=at["has_ans_f1"], v2_no_ans_accuracy=at["no_ans_accuracy"], v2_overall_f1=at["overall_f1"])
    return scores


class _DeviceQaModel:
    """rag's reader backend interface over a model on any device."""

    def __init__(self, model: Any, device: str) -> None:
        self._model, self._device = model, device

    def logits(self, inputs: dict[str, Any]) -> tuple[Any, Any]:
        import torch

        with torch.inference_mode():
            out = self._model(**{name: torch.from_numpy(t).to(self._device) for name, t in inputs.items()})
        return out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()


def write_progress(out: Path, state: dict[str, Any], run: dict[str, Any]) -> None:
    record = {**run, "step": state["step"], "epoch": state["step"] / run["steps_per_epoch"], "elapsed_s": state["elapsed_s"],
              "loss": state["loss"], "dev": state["dev"], "settings": state["settings"],
              "updated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    tmp = out / "progress.json.tmp"
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, out / "progress.json")


def status(out: Path) -> str:
    """Where the run in ``out`` stands: steps, epochs, loss, speed, last dev scores, and whether it runs."""
    path = Path(out) / "progress.json"
    if not path.is_file():
        return f"{out}: no training run here yet (no progress.json)"
    p = json.loads(path.read_text(encoding="utf-8"))
    finished = bool(p.get("finished"))
    alive = not finished and not p.get("stopped") and _alive(int(p.get("pid", 0)))
    rate = p["step"] / p["elapsed_s"] if p["elapsed_s"] else 0.0
    left = (p["max_steps"] - p["step"]) / rate if rate else float("nan")
    deadline_s = 60 * float((p.get("settings") or {}).get("deadline_minutes") or 0)
    if deadline_s:  # the schedule ends at the deadline when that comes first
        left = min(left, max(0.0, deadline_s - p["elapsed_s"]))
    state = "finished, model in model/" if finished else ("running" if alive else "stopped: run the same command to resume")
    lines = [
        f"{out}: {state} (updated {p['updated_at']})",
        f"  step {p['step']}/{p['max_steps']} ({100 * p['step'] / p['max_steps']:.1f}%), epoch {p['epoch']:.2f} "
        f"of {p['max_steps'] / p['steps_per_epoch']:.2f}, {p['windows']} windows, negative pairs {p['negative_pairs']}",
        f"  {rate:.2f} steps/s, trained {p['elapsed_s'] / 3600:.2f} h" + ("" if finished else f", about {left / 3600:.1f} h left"),
    ]
    if p["loss"]:
        recent = ", ".join(f"{loss:.3f}" for _, loss in p["loss"][-5:])
        lines.append(f"  loss (mean of 50 steps, last {min(5, len(p['loss']))}): {recent}")
    for d in p["dev"][-3:]:
        parts = [f"{k} {v:.3f}" for k, v in d.items() if k not in ("step", "epoch")]
        lines.append(f"  dev at step {d['step']} (epoch {d['epoch']:.2f}): " + ", ".join(parts))
    if not p["dev"]:
        lines.append("  no dev score yet" + ("" if p.get("dev_every_s") else " (pass --dev-v1/--dev-v2 to score while training)"))
    return "\n".join(lines)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
