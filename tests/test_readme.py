"""The README tells the truth: every `rag ask` example gives the answer it shows, and every Python
example's `# value` comments hold, against the shipped defaults (python -m rag.eval.bench.readme_examples
--write regenerates the shown outputs)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rag.eval.bench.readme_examples import README, answer_line, cli_examples, python_checks, python_examples, run_cli
from tests.helpers import SEEDS

TEXT = README.read_text(encoding="utf-8")


def test_the_readme_has_examples_to_check() -> None:
    assert len(cli_examples(TEXT)) >= 3
    assert len(python_examples(TEXT)) >= 2


@pytest.mark.parametrize("example", cli_examples(TEXT), ids=lambda e: e.command[:60])
def test_cli_example_gives_the_answer_the_readme_shows(example, tmp_path: Path, shared_models) -> None:
    now = run_cli(example.command, tmp_path / "index")
    assert answer_line(now) == answer_line(example.shown)
    shown_docs = [line.split()[1] for line in example.shown.splitlines() if line.strip().startswith("[")]
    now_docs = [line.split()[1] for line in now.splitlines() if line.strip().startswith("[")]
    assert now_docs[:1] == shown_docs[:1]  # the first citation's document


@pytest.mark.parametrize("block", python_examples(TEXT), ids=lambda b: b.splitlines()[0][:50])
def test_python_example_holds(block: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder, reader) -> None:
    import rag

    shutil.copytree(SEEDS, tmp_path / "seeds")
    monkeypatch.chdir(tmp_path)  # the README's relative "seeds" and ./.rag-index
    shared = rag.Pipeline.__init__

    def with_session_models(self, config=None, embedder_=None, reader_=None, scorer=None):
        shared(self, config, embedder, reader, scorer)

    monkeypatch.setattr(rag.Pipeline, "__init__", with_session_models)
    program = python_checks(block)
    assert "assert (" in program
    exec(compile(program, "README.md", "exec"), {"__name__": "readme"})
    assert os.path.isdir(tmp_path / ".rag-index")


def test_the_readmes_configuration_table_shows_every_setting_at_its_default() -> None:
    """The README's one configuration table names every setting of Config, each with its default
    (written as TOML, as rag.toml would say it)."""
    import dataclasses
    import re
    import tomllib

    from rag import Config

    section = TEXT.split("## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| `([^`]+)` \|", section, re.MULTILINE)
    shown = {name: tomllib.loads(f"value = {literal}")["value"] for name, literal in rows}
    assert len(shown) == len(rows), "a setting appears twice"
    assert set(shown) == {f.name for f in dataclasses.fields(Config)}
    defaults = Config()
    for name, value in shown.items():
        default = getattr(defaults, name)
        assert (str(default) if isinstance(default, Path) else default) == value, name
