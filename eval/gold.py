"""Gold questions: the JSON Lines file format (a contract: id, question, answers, doc_ids; optional
split and kind) and its reader, which says which line is wrong and why."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import GoldFileError

SPLITS = ("dev", "test")


@dataclass(frozen=True, slots=True)
class GoldQuestion:
    id: str
    question: str
    answers: tuple[str, ...]  # empty: the corpus does not answer it
    doc_ids: tuple[str, ...]
    split: str | None = None  # "dev" (tune on it), "test" (report on it), or None
    kind: str | None = None  # free label, e.g. "near_miss"; shown in the report

    @property
    def answerable(self) -> bool:
        return bool(self.answers)



def load_gold(path: Path) -> list[GoldQuestion]:
    """Read gold questions (JSON Lines: id, question, answers, doc_ids; optional split, kind).

    Raises:
        GoldFileError: The file is missing, empty, or a line is not a valid gold question.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise GoldFileError(f"cannot read gold file {path}: {getattr(err, 'strerror', None) or err}") from None
    questions, seen = [], set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        question = _parse_gold_line(line, f"{path}, line {number}")
        if question.id in seen:
            raise GoldFileError(f"{path}, line {number}: id {question.id!r} is used twice")
        seen.add(question.id)
        questions.append(question)
    if not questions:
        raise GoldFileError(f"gold file {path} holds no questions")
    return questions



def write_gold(path: Path, questions: list[GoldQuestion], split: str) -> None:
    """Write ``questions`` as a gold file, each marked as part of ``split`` (what load_gold reads)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(json.dumps({"id": q.id, "question": q.question, "answers": list(q.answers),
                                              "doc_ids": list(q.doc_ids), "split": split, "kind": q.kind}) + "\n"
                                  for q in questions), encoding="utf-8")


def _parse_gold_line(line: str, where: str) -> GoldQuestion:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as err:
        raise GoldFileError(f"{where}: not JSON ({err.msg})") from None
    if not isinstance(raw, dict):
        raise GoldFileError(f"{where}: expected a JSON object")
    for key, kind in (("id", str), ("question", str), ("answers", list), ("doc_ids", list)):
        if not isinstance(raw.get(key), kind):
            raise GoldFileError(f"{where}: {key!r} must be a {'string' if kind is str else 'list'}")
    if not all(isinstance(a, str) for a in raw["answers"] + raw["doc_ids"]):
        raise GoldFileError(f"{where}: 'answers' and 'doc_ids' must hold strings")
    if not raw["question"].strip():
        raise GoldFileError(f"{where}: the question is empty")
    split = raw.get("split")
    if split is not None and split not in SPLITS:
        raise GoldFileError(f"{where}: 'split' must be \"dev\" or \"test\", not {split!r}")
    question_kind = raw.get("kind")
    return GoldQuestion(
        raw["id"], raw["question"], tuple(raw["answers"]), tuple(raw["doc_ids"]), split,
        question_kind if isinstance(question_kind, str) else None,
    )

