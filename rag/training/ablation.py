"""What each kind of "no answer" negative adds: the same short fine-tune of the shipped reader, once per mix.

    python -m rag.training.ablation --train ../shared/data/squad/train-v1.1.json \
        --dev-v1 ../shared/data/squad/dev-v1.1.json --dev-v2 ../shared/data/squad/dev-v2.0.json \
        --out runs/negatives [--steps 300] [--dev-questions 1000]

Every run starts from the shipped reader, trains the same number of steps with the same schedule and
seed, and differs only in its negatives; it is scored on samples of the *tuning halves* of dev-v1.1
and dev-v2.0 (the test halves stay unseen). Runs resume like any training run; the table is printed
from their progress files, and written to OUT/ablation.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from rag.training.progress import DevSets, score_dev
from rag.training.settings import TrainSettings
from rag.training.train import load_start, train

MIXES = {
    "none": "",
    "sibling+bm25 (before)": "sibling=0.3,bm25=0.3",
    "removed": "removed=0.3",
    "retrieved": "retrieved=0.3",
    "removed+retrieved": "removed=0.3,retrieved=0.3",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.training.ablation", description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--dev-v1", type=Path, required=True)
    parser.add_argument("--dev-v2", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--dev-questions", type=int, default=1000)
    parser.add_argument("--mixes", default=",".join(MIXES), help="which mixes to run (comma-separated names)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    names = [m for m in args.mixes.split(",") if m]
    unknown = [m for m in names if m not in MIXES]
    if unknown:
        parser.error(f"unknown mixes {unknown}; choose among {list(MIXES)}")
    dev = DevSets.load(args.dev_v1, args.dev_v2, args.dev_questions, every_s=float("inf"), seed=0)
    shipped = args.out / "shipped.json"
    if not shipped.is_file():  # the starting point, on the same questions
        args.out.mkdir(parents=True, exist_ok=True)
        tokenizer, model = load_start(TrainSettings(train="", init="shipped"), args.out, "cpu")
        shipped.write_text(json.dumps(score_dev(model, tokenizer, dev, "cpu")), encoding="utf-8")
    for name in names:
        settings = TrainSettings(train=str(args.train), init="shipped", max_steps=args.steps, negatives=MIXES[name])
        if not (folder(args.out, name) / "model").is_dir():
            train(settings, folder(args.out, name), dev=dev)
    table = format_table(args.out, names, args)
    (args.out / "ablation.md").write_text(table + "\n", encoding="utf-8")
    print(table)
    return 0


def folder(out: Path, name: str) -> Path:
    return out / name.replace(" ", "-").replace("+", "-").replace("(", "").replace(")", "")


def format_table(out: Path, names: list[str], args: argparse.Namespace) -> str:
    lines = [f"Fine-tune of the shipped reader, {args.steps} steps of 32 windows each, peak lr "
             f"{TrainSettings(train='', init='shipped').peak_lr}; dev = {args.dev_questions} questions sampled from the first half of the "
             "articles of each dev file.", "",
             "| negatives | mix | negative pairs | dev-v1.1 EM | dev-v1.1 F1 | dev-v2.0 HasAns F1 | dev-v2.0 NoAns acc "
             "| dev-v2.0 overall F1 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    d = json.loads((out / "shipped.json").read_text(encoding="utf-8"))
    lines.append(f"| shipped reader (no fine-tune) | - | - | {d['v1_em']:.3f} | {d['v1_f1']:.3f} | "
                 f"{d['v2_has_ans_f1']:.3f} | {d['v2_no_ans_accuracy']:.3f} | {d['v2_overall_f1']:.3f} |")
    for name in names:
        progress = json.loads((folder(out, name) / "progress.json").read_text(encoding="utf-8"))
        d = progress["dev"][-1]
        pairs = sum(progress["negative_pairs"].values())
        lines.append(f"| {name} | `{MIXES[name] or '-'}` | {pairs} | {d['v1_em']:.3f} | {d['v1_f1']:.3f} | "
                     f"{d['v2_has_ans_f1']:.3f} | {d['v2_no_ans_accuracy']:.3f} | {d['v2_overall_f1']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
