"""The wheel: what goes into it, and that an install of it alone answers a question offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# A real browser, Milvus, wheel build or training run: the README's test command runs it, the quick tier does not.
pytestmark = pytest.mark.e2e

READER_FILES = ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "README.md"]
# pip must never reach for an index: the wheel is built and installed from local files only.
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]


def _pip(*args: str | Path) -> None:
    done = subprocess.run([*PIP, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"pip {args[0]} failed:\n{done.stdout}\n{done.stderr}"


def _checkout_copy(dst: Path) -> Path:
    """Copy the files a checkout has (tracked, or untracked but not ignored) into dst.

    Building in the repo itself would reuse its build/ folder, and setuptools packs whatever is
    left in build/lib, so a module deleted from rag/ could still ship.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        src = REPO / name
        if src.is_file():  # a tracked file deleted in the working tree is not there to copy
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)
    return dst


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = _checkout_copy(tmp_path_factory.mktemp("source"))
    dist = tmp_path_factory.mktemp("dist")
    # --no-build-isolation builds with the venv's own setuptools, so no index is needed: every
    # venv with rag's dependencies has setuptools >= 77 (torch requires it), which has bdist_wheel
    # built in and understands `license = "Apache-2.0"`.
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", dist, source)
    (built,) = dist.glob("rag-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def _dist_info(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as zf:
        (path,) = [n for n in zf.namelist() if n.endswith(f".dist-info/{name}") and n.count("/") == 1]
        return zf.read(path).decode("utf-8")


def test_wheel_ships_the_reader_and_the_packages(wheel_names: set[str]) -> None:
    for name in READER_FILES:
        assert f"rag/models/minilm-l6-squad/{name}" in wheel_names
    assert "rag/py.typed" in wheel_names
    for package in ("rag", "rag/eval", "rag/ui", "rag/store", "rag/training"):
        assert f"{package}/__init__.py" in wheel_names
    assert {"rag/ui/app.py", "rag/eval/runner.py", "rag/eval/metrics.py", "rag/eval/floors.json", "rag/cli.py"} <= wheel_names
    # One package and the metadata: no eval/ or ui/ at the top of site-packages to collide with
    # another project's, and no tests/, seeds/ or docs/.
    top_level = {name.split("/")[0] for name in wheel_names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"rag"}


def test_wheel_holds_only_what_rag_runs(wheel_names: set[str]) -> None:
    shipped = {n.removeprefix("rag/models/minilm-l6-squad/") for n in wheel_names if n.startswith("rag/models/")}
    assert shipped == {*READER_FILES, "calibration.json"}, "the reader folder ships a file rag does not read"
    assert not [n for n in wheel_names if n.endswith((".pyc", ".log")) or "onnxruntime_profile" in n or "/tests/" in n]
    # The lab (benchmarks, tuning: eval/bench/) stays in the repository; the eval suite ships.
    assert not [n for n in wheel_names if n.startswith("rag/eval/bench")]
    assert "rag/eval/command.py" in wheel_names


def test_wheel_declares_the_rag_command(wheel: Path) -> None:
    entry_points = _dist_info(wheel, "entry_points.txt")
    assert "[console_scripts]" in entry_points
    assert "rag = rag.cli:main" in entry_points


def test_wheel_metadata_states_python_and_licence(wheel: Path, wheel_names: set[str]) -> None:
    metadata: Message = Parser().parsestr(_dist_info(wheel, "METADATA"))
    assert metadata["Name"] == "rag"
    assert metadata["Requires-Python"]
    assert metadata["License-Expression"] == "Apache-2.0"
    # setuptools picks up LICENSE and NOTICE* by default and ships them in the dist-info.
    license_files = metadata.get_all("License-File") or []
    assert "LICENSE" in license_files and "NOTICE.md" in license_files
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel_names)
    assert any(n.endswith(".dist-info/licenses/NOTICE.md") for n in wheel_names)


ASK_FROM_THE_WHEEL = """
import json, sys
from pathlib import Path
import rag
from rag.model_paths import SHIPPED_READER_DIR
target, seeds, index = map(Path, sys.argv[1:4])
answer = rag.Pipeline.from_folder(seeds, index_dir=index).ask("Where did Ahn Gyu-back and Gen Nakatani meet?")
ours = sorted({m.__file__ for name, m in sys.modules.items()
               if name.split(".")[0] in ("rag", "eval", "ui") and getattr(m, "__file__", None)})
print(json.dumps({"rag": rag.__file__, "reader": str(SHIPPED_READER_DIR), "modules": ours,
                  "answer": answer.text, "doc_ids": [c.doc_id for c in answer.citations]}))
"""


def test_wheel_installs_and_answers_offline(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    _pip("install", "--no-deps", "--no-index", "--target", target, wheel)
    seeds = shutil.copytree(REPO / "seeds", tmp_path / "seeds")
    # PYTHONPATH comes before site-packages on sys.path, and the editable install of the repo is a
    # finder appended at the end of sys.meta_path, so the wheel's copy wins. cwd has no rag/ in it.
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", ASK_FROM_THE_WHEEL, str(target), str(seeds), str(tmp_path / "index")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert Path(result["rag"]).is_relative_to(target)
    assert Path(result["reader"]).is_relative_to(target)
    assert all(Path(f).is_relative_to(target) for f in result["modules"]), result["modules"]
    assert result["answer"] == "Seoul"
    assert "000_d8589817e4af2ab0.txt" in result["doc_ids"]


def test_license_and_notice_are_there() -> None:
    license_text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    notice = (REPO / "NOTICE.md").read_text(encoding="utf-8")
    assert "CC BY-SA 4.0" in notice
    assert "Apache-2.0" in notice
