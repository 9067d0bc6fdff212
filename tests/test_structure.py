"""The shape of the code: no import cycle anywhere in what installs as `rag`, and small modules.

Imports are read from the source (every `import` and `from ... import`, also those inside
functions, which still tie modules together), so a cycle hidden behind a lazy import is found too.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

# What installs where (pyproject.toml's package-dir): the checkout's folders and their module names.
PACKAGES = {"rag": REPO / "rag", "rag.eval": REPO / "eval", "rag.ui": REPO / "ui"}
MAX_LINES = 250
# A module may be longer if its docstring says why, with this phrase.
LONG_BECAUSE = "Longer than most because"


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The known modules that ``name`` imports, relative imports resolved."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets.add(module)
            targets |= {f"{module}.{alias.name}" for alias in node.names}  # `from pkg import submodule`
    return {t for t in targets if t in known and t != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports. A package's __init__ re-exporting its submodules is an edge
    like any other; importing a submodule is not counted as importing its parent package."""
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def test_the_finder_sees_a_cycle_when_there_is_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_in_rag() -> None:
    graph = import_graph()
    assert {"rag.store.sync", "rag.store.faiss_store", "rag.eval.runner", "rag.ui.app", "rag.training.train"} <= set(graph)
    assert "rag.store.base" in graph["rag.store.sync"]  # the reader of imports reads them
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_store_backends_do_not_import_the_sync() -> None:
    graph = import_graph()
    for backend in ("rag.store.faiss_store", "rag.store.milvus_store", "rag.store.milvus_client", "rag.store.folder", "rag.store.base"):
        assert not graph[backend] & {"rag.store.sync", "rag.store.status", "rag.store"}, backend


def test_nothing_the_product_runs_imports_the_lab() -> None:
    """rag/, ui/ and the eval suite (`rag eval`) import no benchmark, and training reads SQuAD through
    its own module: the lab (rag.eval.bench) may change or vanish without the product noticing."""
    graph = import_graph()
    lab = {name for name in graph if name == "rag.eval.bench" or name.startswith("rag.eval.bench.")}
    assert {"rag.eval.bench.tune", "rag.eval.bench.systems"} <= lab
    product = set(graph) - lab
    assert "rag.eval.command" in product and "rag.training.progress" in product
    offenders = {name: sorted(graph[name] & lab) for name in product if graph[name] & lab}
    assert not offenders, offenders
    training = {name: sorted(t for t in graph[name] if t.startswith("rag.eval")) for name in graph
                if name.startswith("rag.training")}
    assert not any(training.values()), training


def test_the_lab_finder_sees_a_lab_import() -> None:
    graph = import_graph()
    assert "rag.eval.gold" in graph["rag.eval.bench.corpora"]  # a bench importing the suite is seen
    assert "rag.training.squad" in graph["rag.eval.bench.squad"]


def test_modules_are_small_or_say_why() -> None:
    long = []
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if lines > MAX_LINES and LONG_BECAUSE not in docstring:
            long.append(f"{name} ({lines} lines)")
    assert not long, "over 250 lines without a reason in the docstring: " + ", ".join(long)


# What the repository holds at its root: the layout the README describes, and nothing stray (a
# profiler dump, a scratch file) that a commit swept in.
ROOT_ALLOWED = {".ci", ".gitignore", "CHANGELOG.md", "LICENSE", "NOTICE.md", "README.md", "pyproject.toml",
                "rag", "ui", "eval", "tests", "seeds", "docs"}


def test_the_tracked_root_holds_only_the_projects_layout() -> None:
    import subprocess

    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.decode()
    roots = {name.split("/")[0] for name in tracked.split("\0") if name}
    assert roots, "git lists no tracked file: run the tests in a clone of the repository"
    assert roots <= ROOT_ALLOWED, f"stray at the root: {sorted(roots - ROOT_ALLOWED)}"


def test_every_error_rag_raises_on_purpose_is_exported() -> None:
    import rag
    from rag.errors import RagError

    def subclasses(cls: type) -> set[type]:
        return {c for s in cls.__subclasses__() for c in {s, *subclasses(s)}}

    import importlib
    import pkgutil

    # Every module of the product, so the answer does not depend on what other tests imported; the
    # lab's own errors (benchmarks, training) are not the library's.
    lab = ("rag.eval", "rag.training")
    for module in pkgutil.walk_packages(rag.__path__, "rag."):
        if not module.name.startswith(lab) and module.name != "rag.__main__":
            importlib.import_module(module.name)
    def exported(cls: type) -> bool:  # itself, or a kind of one that is (TextLimitError is an ExtractError)
        return any(c.__name__ in rag.__all__ for c in cls.__mro__ if issubclass(c, RagError) and c is not RagError)

    missing = sorted(c.__name__ for c in subclasses(RagError)
                     if c.__module__.startswith("rag") and not c.__module__.startswith(lab) and not exported(c))
    assert not missing, f"raised to users but not importable from rag: {missing}"


LEAVES_ENVIRONMENT = """
import json, os, sys
from pathlib import Path
before = dict(os.environ)
import rag
qa = rag.Pipeline.from_folder(sys.argv[1], index_dir=Path(sys.argv[2]), config=rag.Config())
answer = qa.ask("Where did Ahn Gyu-back and Gen Nakatani meet?")
after = dict(os.environ)
print(json.dumps({"changed": sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k)),
                  "answer": answer.text}))
"""


def test_the_library_leaves_the_host_programs_environment_as_it_was(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    done = subprocess.run([sys.executable, "-c", LEAVES_ENVIRONMENT, str(REPO / "seeds"), str(tmp_path / "index")],
                          capture_output=True, text=True, env=env, timeout=600, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["answer"] == "Seoul"
    assert result["changed"] == [], f"rag changed the host's environment: {result['changed']}"


# The README is one page a newcomer can hold in one hand; the deep material lives in docs/, one
# topic a file, and every link between them leads somewhere.
README_MAX_LINES = 300
MARKDOWN_LINK = r"!?\[[^\]]*\]\(([^)\s]+)\)|<img [^>]*src=\"([^\"]+)\""  # [text](target), ![alt](target), <img src>


def relative_links(markdown: Path) -> list[str]:
    """The targets of a Markdown file's links and images that point into the repository (no URL,
    no bare #anchor), without their #anchor."""
    import re

    targets = [a or b for a, b in re.findall(MARKDOWN_LINK, markdown.read_text(encoding="utf-8"))]
    return [t.split("#", 1)[0] for t in targets if not re.match(r"[a-z]+:|#", t)]


def test_the_readme_fits_on_one_page() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move a topic into docs/"


def test_every_relative_link_in_the_readme_and_docs_leads_to_a_file() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    assert len(pages) > 5 and "docs/performance.md" in relative_links(REPO / "README.md")
    broken = [f"{page.relative_to(REPO)} -> {target}" for page in pages for target in relative_links(page)
              if not (page.parent / target).exists()]
    assert not broken, f"links to nothing: {broken}"


def test_the_link_finder_sees_links_images_and_skips_urls(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text('See [a](docs/a.md#part), ![b](b.png), <img src="c.png" alt="c">, [d](https://x.org/d.md), '
                    "[e](#top) and [f](mailto:x@y.org).\n", encoding="utf-8")
    assert relative_links(page) == ["docs/a.md", "b.png", "c.png"]


def test_the_readmes_test_command_is_the_one_ci_runs() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    command = ci.split("# --- the README's test command, verbatim ---\n", 1)[1].strip().splitlines()[0]
    assert f"```bash\n{command}\n```" in (REPO / "README.md").read_text(encoding="utf-8")
