"""The README's examples, run against the shipped defaults: its sample output is generated, never typed.

    python -m rag.eval.bench.readme_examples [--write]

Two kinds of example, both over seeds/:

- a code block that starts with ``$ rag ask "QUESTION" [flags]``: the rest of the block is what
  that command prints; ``--write`` replaces it with what it prints now;
- a line of a ``python`` block that ends in ``# LITERAL`` (``chat.ask("…").text   # 'Shigeru Ishiba'``):
  the expression before the comment must equal the literal, when the block runs top to bottom.

Without ``--write`` it prints every example that no longer holds and exits 1 (tests/test_readme.py
runs the same checks).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import re
import shlex
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
_CLI_BLOCK = re.compile(r"```\n\$ (rag ask [^\n]+)\n(.*?)```", re.DOTALL)
_PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
_CHECKED_LINE = re.compile(r"^(?P<indent>\s*)(?P<expr>[^#\n]*?\S)\s+#\s*(?P<literal>['(\[\d].*)$")


@dataclass(frozen=True, slots=True)
class CliExample:
    command: str  # as the README shows it, "rag ask ..."
    shown: str  # the output the README shows


def cli_examples(text: str) -> list[CliExample]:
    return [CliExample(m.group(1), m.group(2)) for m in _CLI_BLOCK.finditer(text)]


def run_cli(command: str, index: Path) -> str:
    """What ``command`` prints on stdout over seeds/, with its index in ``index``."""
    from rag.cli import main

    argv = shlex.split(command)[1:] + ["--corpus", str(REPO / "seeds"), "--index", str(index), "-q"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    if code != 0:
        raise RuntimeError(f"{command} exited {code}")
    return out.getvalue()


def answer_line(output: str) -> str:
    """The first line of ``rag ask``'s output without its confidence: the answer, or the decline."""
    return re.sub(r"\s+\(confidence [0-9.]+\)\s*$", "", output.splitlines()[0] if output else "")


def python_checks(block: str) -> str:
    """The block as a program whose ``EXPR  # LITERAL`` lines assert ``EXPR == LITERAL``."""
    lines = []
    for line in block.splitlines():
        m = _CHECKED_LINE.match(line)
        if m and _is_literal(m.group("literal")):
            expr, literal = m.group("expr"), m.group("literal")
            lines.append(f"{m.group('indent')}assert ({expr}) == {literal}, ({expr!r}, {expr})")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def python_examples(text: str) -> list[str]:
    """The python blocks that check something (hold at least one ``# LITERAL`` line)."""
    blocks = [m.group(1) for m in _PYTHON_BLOCK.finditer(text)]
    return [b for b in blocks if python_checks(b) != b.rstrip("\n") + "\n" and "gradio_client" not in b]


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return False
    return True


def check(write: bool = False, run: Callable[[str, Path], str] = run_cli) -> list[str]:
    """The examples that do not hold (their README answer against today's); with ``write``, the CLI
    blocks are rewritten with today's output first."""
    text = README.read_text(encoding="utf-8")
    problems = []
    with tempfile.TemporaryDirectory() as scratch:
        index = Path(scratch) / "index"
        for example in cli_examples(text):
            now = run(example.command, index)
            if write:
                text = text.replace(f"$ {example.command}\n{example.shown}", f"$ {example.command}\n{now}", 1)
            elif answer_line(now) != answer_line(example.shown):
                problems.append(f"{example.command}: README shows {answer_line(example.shown)!r}, rag says {answer_line(now)!r}")
    if write:
        README.write_text(text, encoding="utf-8")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.eval.bench.readme_examples", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the README's `rag ask` outputs with today's")
    args = parser.parse_args(argv)
    problems = check(write=args.write)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
