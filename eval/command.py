"""`rag eval`: run the gold questions, report, tune the threshold, hold the floors (the CLI only parses flags)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from rag.config import CONFIG_FILE_NAME
from rag.errors import ConfigError
from rag.pipeline import Pipeline
from rag.text import inert_json

from .compare import compare, load_run
from .floors import below_floors, load_floors
from .report import write_report
from .runner import run_eval
from .summary import format_summary, to_json
from .tuning import tune, write_threshold

log = logging.getLogger("rag")


def run_eval_command(args: argparse.Namespace, make_pipeline: Callable[[], Pipeline]) -> int:
    """What `rag eval` does with its parsed flags; the exit status (1: a floor was missed)."""
    if args.compare:
        print(compare(load_run(args.compare[0]), load_run(args.compare[1])))
        return 0
    if args.gold is None:
        raise ConfigError("rag eval needs --gold FILE (or --compare A.json B.json)")
    floors = load_floors(args.floors) if args.floors else None
    split = args.split or (floors.split if floors else None)
    pipeline = make_pipeline()
    result = run_eval(pipeline, args.gold, split=split, ablations=args.ablations)
    tuning = tune(result)
    if args.out:
        log.info("report written to %s", write_report(result, tuning, args.out, args.gold))
    if args.json:
        print(inert_json(to_json(result)))
    else:
        print(format_summary(result))
        test = tuning.test_at_chosen
        print(
            f"best threshold on the {tuning.tuned_on} part: {tuning.chosen.threshold:.2f} (overall {tuning.chosen.overall:.3f})"
            + (f"; test part at it: overall {test.overall:.3f}" if test else "")
        )
    if args.tune:
        target = args.config or Path(CONFIG_FILE_NAME)
        write_threshold(target, tuning.chosen.threshold)
        log.info("wrote min_confidence = %.2f (tuned on the %s part) into %s", tuning.chosen.threshold, tuning.tuned_on, target)
    if floors:
        failures = below_floors(result.summary(), floors)
        for line in failures:
            print(f"rag: below floor: {line}", file=sys.stderr)
        return 1 if failures else 0
    return 0
