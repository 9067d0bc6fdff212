"""The abstention threshold: sweep it on the dev part, pick the best, and write it into the config.

Tuning reads only questions marked ``"split": "dev"``; the test part is scored at the chosen point
and never influences it. A gold file without splits is tuned whole (the report says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag.atomic import write_atomic
from rag.errors import ConfigError

from .metrics import Candidate, SweepPoint, best_threshold, threshold_sweep
from .runner import EvalResult, Scored

THRESHOLDS = tuple(round(t / 100, 2) for t in range(101))


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


def write_threshold(config_path: Path, threshold: float) -> None:
    """Set ``min_confidence`` in a TOML config file, keeping everything else in it as it was.

    rag reads settings at the top level and in a ``[rag]`` table (which wins), so every
    ``min_confidence`` rag reads is set, however its key is spelled (``"min_confidence"``, a dotted
    ``rag.min_confidence``); one in another table is left alone. The file is edited with tomlkit,
    which keeps the user's layout and comments, then read back as rag reads it: a file rag could not
    read, or would read another value from, is never written. Created if missing; replaced
    atomically, keeping its permissions.

    Raises:
        ConfigError: The file is not valid TOML, or the edit would not set what rag reads.
    """
    import tomllib

    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    path = Path(config_path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    value = round(float(threshold), 2)
    try:
        document = tomlkit.parse(text)
        rag_table = document.get("rag")
        targets = [t for t in (document, rag_table) if isinstance(t, dict) and "min_confidence" in t]
        for table in targets:
            table["min_confidence"] = value
        if not targets:
            item = tomlkit.item(value)
            item.comment("tuned by rag eval --tune")
            (rag_table if isinstance(rag_table, dict) else document)["min_confidence"] = item
        edited = tomlkit.dumps(document)
        data = tomllib.loads(edited)
    except (TOMLKitError, tomllib.TOMLDecodeError, ValueError) as err:
        raise ConfigError(f"cannot set min_confidence in {path}: it is not valid TOML ({err}); fix it, or set "
                          f"min_confidence = {value:.2f} by hand") from None
    written = data.get("rag")
    read = written["min_confidence"] if isinstance(written, dict) and "min_confidence" in written else data.get("min_confidence")
    if read != value:
        raise ConfigError(f"cannot set min_confidence in {path} so that rag reads it; set min_confidence = "
                          f"{value:.2f} by hand (at the top level or in [rag])")
    write_atomic(path, edited)
