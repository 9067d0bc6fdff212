"""Static checks, run by the README's test command: ruff (lint and import order) and mypy (types),
both configured in pyproject.toml and pinned in the test extra.

Each check runs over the whole checkout, so a new module is checked without being listed here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO


def _run(*argv: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing() -> None:
    # The cache (.mypy_cache, ignored by git) makes a second run take seconds.
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


@pytest.mark.parametrize("check", [("ruff", "check", "--no-cache", "--isolated", "--select", "F", "."), ("mypy", "--no-incremental", "--ignore-missing-imports", "bad.py")])
def test_the_checks_fail_on_a_bad_module(tmp_path: Path, check: tuple[str, ...]) -> None:
    """Each check does fail: an unused import (ruff) and a str passed as an int (mypy)."""
    (tmp_path / "bad.py").write_text("import os\n\n\ndef twice(n: int) -> int:\n    return 2 * n\n\n\ntwice('2')\n")
    result = _run(*check, cwd=tmp_path)
    assert result.returncode != 0
    assert "bad.py" in result.stdout
