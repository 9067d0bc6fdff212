"""`rag eval --compare A.json B.json`: what changed between two `rag eval --json` runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import GoldFileError

METRICS = ("em", "f1", "abstention_recall", "abstention_precision", "overall", "citation_accuracy",
           "recall_at_1", "recall_at_5", "mrr")


def load_run(path: Path) -> dict[str, Any]:
    """A saved `rag eval --json` object (or an --out folder's results.json)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise GoldFileError(f"cannot read eval results {path}: {getattr(err, 'strerror', None) or err}") from None
    if not isinstance(data, dict) or "questions" not in data:
        raise GoldFileError(f"{path} is not the output of rag eval --json")
    return data


def compare(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Per-metric deltas, then every question whose answer, correctness or abstention changed."""
    lines = [f"{'metric':<22}{'A':>9}{'B':>9}{'B - A':>9}"]
    for name in METRICS:
        if name in before and name in after:
            a, b = float(before[name]), float(after[name])
            lines.append(f"{name:<22}{a:>9.3f}{b:>9.3f}{b - a:>+9.3f}")
    old = {q["id"]: q for q in before["questions"]}
    changed = []
    for q in after["questions"]:
        p = old.get(q["id"])
        if p is None or (p.get("answer"), p.get("em"), p.get("abstained")) != (q.get("answer"), q.get("em"), q.get("abstained")):
            changed.append((p, q))
    lines.append("")
    lines.append(f"{len(changed)} question(s) changed" + (":" if changed else "."))
    for p, q in changed:
        verdict = "better" if _right(q) > _right(p) else "worse" if _right(q) < _right(p) else "different"
        was = "(new)" if p is None else _shown(p)
        lines.append(f"  {q['id']:<6} {verdict:<9} {was} -> {_shown(q)}   {q['question']}")
    missing = sorted(set(old) - {q["id"] for q in after["questions"]})
    if missing:
        lines.append(f"only in A: {', '.join(missing)}")
    return "\n".join(lines)


def _right(q: dict[str, Any] | None) -> float:
    if q is None:
        return 0.0
    return float(q["abstained"]) if not q.get("gold_answers") else float(q.get("em", 0.0))


def _shown(q: dict[str, Any]) -> str:
    return "(abstained)" if q.get("abstained") else repr(q.get("answer"))
