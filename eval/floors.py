"""`rag eval --floors FILE`: the regression gate. A run fails when a score falls below its floor.

The floors file is JSON: ``{"split": "test", "floors": {"em": 0.8, "overall": 0.8, ...}}``; the
metric names are those of `rag eval --json`. Raise a floor when a change lifts the score.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import GoldFileError


@dataclass(frozen=True, slots=True)
class Floors:
    split: str | None
    minimums: dict[str, float]


def load_floors(path: Path) -> Floors:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise GoldFileError(f"cannot read floors file {path}: {getattr(err, 'strerror', None) or err}") from None
    minimums = data.get("floors") if isinstance(data, dict) else None
    if not isinstance(minimums, dict) or not all(isinstance(v, (int, float)) for v in minimums.values()):
        raise GoldFileError(f"floors file {path}: expected {{\"floors\": {{\"metric\": number, ...}}}}")
    split = data.get("split")
    if split not in (None, "dev", "test"):
        raise GoldFileError(f"floors file {path}: 'split' must be \"dev\" or \"test\"")
    return Floors(split, {k: float(v) for k, v in minimums.items()})


def below_floors(summary: dict[str, Any], floors: Floors) -> list[str]:
    """One line per metric under its floor (or missing from the summary); empty when all hold."""
    failures = []
    for name, minimum in sorted(floors.minimums.items()):
        if name not in summary:
            failures.append(f"{name}: not a metric of rag eval")
        elif float(summary[name]) < minimum - 1e-9:
            failures.append(f"{name} {float(summary[name]):.3f} is below its floor {minimum:.3f}")
    return failures
