"""The abstention threshold: sweep it on the dev part, pick the best, and write it into the config.

Tuning reads only questions marked ``"split": "dev"``; the test part is scored at the chosen point
and never influences it. A gold file without splits is tuned whole (the report says so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rag.atomic import write_atomic

from .metrics import Candidate, SweepPoint, best_threshold, threshold_sweep
from .runner import EvalResult, Scored

THRESHOLDS = tuple(round(t / 100, 2) for t in range(0, 101))


@dataclass(frozen=True, slots=True)
class Tuning:
    tuned_on: str  # "dev", or "all" when the gold file has no splits
    chosen: SweepPoint  # on the tuned part
    sweep: tuple[SweepPoint, ...]  # on the tuned part
    test_sweep: tuple[SweepPoint, ...]  # on the test part (empty without one)

    @property
    def test_at_chosen(self) -> SweepPoint | None:
        return next((p for p in self.test_sweep if p.threshold == self.chosen.threshold), None)


def candidates(questions: list[Scored] | tuple[Scored, ...]) -> list[Candidate]:
    return [
        Candidate(
            confidence=(q.candidate or q.answer).confidence,
            em=q.candidate_em,
            answerable=q.gold.answerable,
            has_answer=(q.candidate or q.answer).text is not None,
        )
        for q in questions
    ]


def tune(result: EvalResult) -> Tuning:
    """Sweep thresholds 0.00-1.00 on the dev part and pick the best overall score there."""
    dev = result.part("dev").questions
    tuned_on = "dev" if dev else "all"
    sweep = threshold_sweep(candidates(dev or result.questions), THRESHOLDS)
    test = result.part("test").questions
    return Tuning(tuned_on, best_threshold(sweep), tuple(sweep), tuple(threshold_sweep(candidates(test), THRESHOLDS)) if test else ())


_SETTING = re.compile(r"^(\s*min_confidence\s*=\s*)([^#\n]*?)(\s*(#.*)?)$", re.MULTILINE)
_TABLE = re.compile(r"^\s*\[([^\]]+)\]\s*$", re.MULTILINE)


def write_threshold(config_path: Path, threshold: float) -> None:
    """Set ``min_confidence`` in a TOML config file, keeping everything else in it as it was.

    rag reads settings at the top level and in a ``[rag]`` table (which wins), so every
    ``min_confidence`` in either place is set; one in another table is left alone. The file is
    created if missing and replaced atomically, keeping its permissions.
    """
    path = Path(config_path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    value = f"{threshold:.2f}"
    tables = [(m.start(), m.group(1).strip()) for m in _TABLE.finditer(text)]

    def table_at(offset: int) -> str | None:
        return next((name for start, name in reversed(tables) if start < offset), None)

    read_by_rag = [m for m in _SETTING.finditer(text) if table_at(m.start()) in (None, "rag")]
    if read_by_rag:
        for m in reversed(read_by_rag):
            text = text[: m.start()] + f"{m.group(1)}{value}{m.group(3)}" + text[m.end():]
    else:
        line = f"min_confidence = {value}  # tuned by rag eval --tune\n"
        rag_table = next((m for m in _TABLE.finditer(text) if m.group(1).strip() == "rag"), None)
        if rag_table:
            text = text[: rag_table.end()] + "\n" + line.rstrip("\n") + text[rag_table.end():]
        else:  # top-level keys must come before the first table
            text = line + text
    write_atomic(path, text)
