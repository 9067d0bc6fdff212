"""A write that fails leaves the index as it was and nothing of the failed build (issue 30, items 7-8):
a full disk (here the file-size limit, which fails writes the same way and needs no root) and an
index path that is not valid UTF-8."""

from __future__ import annotations

import json
import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rag import cli
from rag.store.folder import IndexFolder


def corpus_of(folder: Path, documents: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(documents):
        (folder / f"d{i:03}.txt").write_text(
            f"Report {i}. The naval exercise number {i} was held in Busan in May, the ministry said. " * 4,
            encoding="utf-8",
        )
    return folder


@contextmanager
def writes_over(limit: int) -> Iterator[None]:
    """Every write that would make a file larger than ``limit`` bytes fails (EFBIG), as on a full disk."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the error, not the signal that kills
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def builds(index: Path) -> list[str]:
    return sorted(p.name for p in index.glob("build-*"))


# The disk fills while the passages are written (Python), or while the vectors are (FAISS: its own
# write_index reported it as a bare RuntimeError, exit 1, and left the build folder behind).
@pytest.mark.parametrize("limit", [8_000, 20_000], ids=["passages", "vectors"])  # texts.bin 13 KB, dense.faiss 31 KB
def test_a_full_disk_is_one_line_and_leaves_no_build(tmp_path: Path, capsys, shared_models, limit: int) -> None:
    corpus = corpus_of(tmp_path / "corpus", 40)
    index = tmp_path / "index"
    args = ["index", "--corpus", str(corpus), "--index", str(index)]
    for _ in range(2):  # the first build, then its rerun: each fails alike, neither leaves a build
        with writes_over(limit):
            code = cli.main(args)
        err = capsys.readouterr().err
        assert code == 2, err
        assert f"cannot write the index in {index}: File too large; free some space and run it again" in err
        assert "Traceback" not in err and builds(index) == []
        assert list(index.glob("segments/seg-*")) == [], "a segment written for the failed build was left"
    assert cli.main(args) == 0 and len(builds(index)) == 1  # space is back: the rerun completes
    current = IndexFolder(index).current_build()
    capsys.readouterr()

    corpus_of(tmp_path / "more", 40)
    for path in (tmp_path / "more").iterdir():
        path.rename(corpus / f"more-{path.name}")
    with writes_over(limit):
        code = cli.main(args)  # an update that cannot be written
    assert code == 2 and builds(index) == [current.name]
    assert IndexFolder(index).current_build() == current
    capsys.readouterr()
    assert cli.main(["ask", "Where was the naval exercise held?", *args[1:]]) == 0  # it updates now
    assert "Busan" in capsys.readouterr().out and len(builds(index)) == 1


def test_an_index_path_that_is_not_utf8_works(tmp_path: Path, capsys, shared_models) -> None:
    corpus = corpus_of(tmp_path / "corpus", 3)
    index = tmp_path / "M\udcfcller" / "idx"  # the bytes b"M\xfcller": Latin-1, not UTF-8
    args = ["--corpus", str(corpus), "--index", str(index)]
    assert cli.main(["index", *args]) == 0 and len(builds(index)) == 1
    assert cli.main(["ask", "Where was the naval exercise held?", *args]) == 0
    assert "Busan" in capsys.readouterr().out
    assert cli.main(["status", "--json", *args]) == 0
    out = capsys.readouterr().out
    out.encode("utf-8")  # valid UTF-8, the odd byte escaped
    assert json.loads(out)["index"] == str(index) and json.loads(out)["up_to_date"] is True
