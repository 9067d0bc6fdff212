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

    def with_session_models(self, config=None, embedder_=None, reader_=None, scorer=None):  # noqa: ANN001
        shared(self, config, embedder, reader, scorer)

    monkeypatch.setattr(rag.Pipeline, "__init__", with_session_models)
    program = python_checks(block)
    assert "assert (" in program
    exec(compile(program, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102 - the README's own code
    assert os.path.isdir(tmp_path / ".rag-index")


def test_the_readmes_configuration_block_shows_the_defaults() -> None:
    """Every setting in the README's rag.toml example is the default it claims to be."""
    import dataclasses
    import tomllib

    from rag import Config

    block = TEXT.split("```toml\n", 1)[1].split("```", 1)[0]
    shown = tomllib.loads(block)
    defaults = Config()
    assert len(shown) >= 10
    for name, value in shown.items():
        default = getattr(defaults, name)
        assert (str(default) if isinstance(default, Path) else default) == value, name
    assert set(shown) <= {f.name for f in dataclasses.fields(Config)}
