"""Config defaults, rag.toml, overrides, and the errors a bad setting raises."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rag.config import CONFIG_FILE_NAME, Config, load_config
from rag.errors import ConfigError, RagError


@pytest.fixture(autouse=True)
def empty_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rag.toml in the directory pytest runs from must not leak into these tests."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


def write_toml(folder: Path, text: str, name: str = "settings.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    config = Config()

    assert config.corpus_dir == Path("seeds")
    assert config.index_dir == Path(".rag-index")
    assert config.embed_model == ""
    assert config.reader_model == ""
    # The tuned defaults (python -m rag.eval.bench.tune; the figures are in docs/tuning/report.md).
    assert (config.chunk_chars, config.chunk_overlap) == (400, 100)
    assert config.top_k == 6
    assert (config.retrieval, config.dense_weight) == ("weighted", 0.5)
    assert config.rrf_k == 10
    assert (config.span_scoring, config.max_answer_tokens) == ("shared_softmax", 20)
    assert config.auto_update is True
    assert config.on_topic_cosine == 0.4
    assert 0.0 <= config.min_confidence <= 1.0


def test_a_retired_setting_in_an_old_config_file_is_ignored_with_a_warning(tmp_path: Path, caplog) -> None:
    path = tmp_path / "rag.toml"
    path.write_text("seed = 0\ntop_k = 4\n", encoding="utf-8")
    with caplog.at_level("WARNING"):
        config = load_config(path)
    assert config.top_k == 4 and not hasattr(config, "seed")
    assert "'seed' is ignored" in caplog.text


def test_load_config_without_file_or_overrides_gives_defaults() -> None:
    assert load_config() == Config()


def test_reads_top_level_settings(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        'corpus_dir = "docs"\nindex_dir = "/var/idx"\ntop_k = 7\nretrieval = "bm25"\n'
        "min_confidence = 0\nauto_update = false\nembed_model = \"my/model\"\n",
    )

    config = load_config(path)

    assert config.corpus_dir == Path("docs")
    assert isinstance(config.corpus_dir, Path)
    assert config.index_dir == Path("/var/idx")
    assert config.top_k == 7
    assert config.retrieval == "bm25"
    assert config.min_confidence == 0.0
    assert isinstance(config.min_confidence, float)
    assert config.auto_update is False
    assert config.embed_model == "my/model"
    assert config.chunk_chars == Config().chunk_chars  # untouched settings keep their defaults


def test_reads_settings_under_a_rag_table(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[rag]\nchunk_chars = 400\nchunk_overlap = 100\nretrieval = "dense"\n')

    config = load_config(path)

    assert (config.chunk_chars, config.chunk_overlap, config.retrieval) == (400, 100, "dense")


def test_accepts_path_as_str(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "top_k = 3\n")

    assert load_config(str(path)).top_k == 3  # type: ignore[arg-type]


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'top_k = 7\nretrieval = "bm25"\ncorpus_dir = "from-file"\n')

    config = load_config(path, top_k=2, corpus_dir=Path("from-flag"))

    assert config.top_k == 2
    assert config.corpus_dir == Path("from-flag")
    assert config.retrieval == "bm25"  # not overridden: the file's value stays


def test_none_overrides_are_ignored(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "top_k = 7\n")

    config = load_config(path, top_k=None, retrieval=None, corpus_dir=None)

    assert config.top_k == 7
    assert config.retrieval == Config().retrieval
    assert config.corpus_dir == Config().corpus_dir


def test_overrides_without_a_file() -> None:
    config = load_config(index_dir="elsewhere", min_confidence=1)

    assert config.index_dir == Path("elsewhere")
    assert config.min_confidence == 1.0


def test_rag_toml_in_working_directory_is_read_when_no_path_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml(tmp_path, "[rag]\ntop_k = 9\n", name=CONFIG_FILE_NAME)
    monkeypatch.chdir(tmp_path)

    assert load_config().top_k == 9
    assert load_config(top_k=4).top_k == 4


def test_explicit_path_wins_over_rag_toml_in_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml(tmp_path, "top_k = 9\n", name=CONFIG_FILE_NAME)
    other = write_toml(tmp_path, "rrf_k = 30\n", name="other.toml")
    monkeypatch.chdir(tmp_path)

    config = load_config(other)

    assert config.rrf_k == 30
    assert config.top_k == Config().top_k


def test_unknown_key_raises_config_error_listing_known_settings(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "top_kk = 3\n")

    with pytest.raises(ConfigError) as excinfo:
        load_config(path)

    message = str(excinfo.value)
    assert "'top_kk'" in message
    assert "top_k" in message.split("known settings")[1]


def test_unknown_override_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_config(colour="blue")


@pytest.mark.parametrize(
    ("toml", "setting"),
    [
        pytest.param('top_k = "five"\n', "top_k", id="str-for-int"),
        pytest.param("top_k = 2.5\n", "top_k", id="float-for-int"),
        pytest.param("top_k = true\n", "top_k", id="bool-for-int"),
        pytest.param("min_confidence = true\n", "min_confidence", id="bool-for-float"),
        pytest.param('min_confidence = "0.5"\n', "min_confidence", id="str-for-float"),
        pytest.param("auto_update = 1\n", "auto_update", id="int-for-bool"),
        pytest.param("corpus_dir = 3\n", "corpus_dir", id="int-for-path"),
        pytest.param("retrieval = 1\n", "retrieval", id="int-for-str"),
        pytest.param('embed_model = ["a"]\n', "embed_model", id="list-for-str"),
    ],
)
def test_wrong_type_raises_config_error_naming_the_setting(tmp_path: Path, toml: str, setting: str) -> None:
    path = write_toml(tmp_path, toml)

    with pytest.raises(ConfigError, match=f"setting '{setting}' must be"):
        load_config(path)


def test_wrong_type_override_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="'top_k'"):
        load_config(top_k="3")


def test_bad_retrieval_mode_raises_config_error_listing_modes(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'retrieval = "sparse"\n')

    with pytest.raises(ConfigError) as excinfo:
        load_config(path)

    message = str(excinfo.value)
    assert "'sparse'" in message
    for mode in ("hybrid", "dense", "bm25"):
        assert mode in message


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        pytest.param({"chunk_chars": 10}, "chunk_chars", id="chunk-too-small"),
        pytest.param({"chunk_chars": 100, "chunk_overlap": 50}, "chunk_overlap", id="overlap-half"),
        pytest.param({"chunk_overlap": -1}, "chunk_overlap", id="overlap-negative"),
        pytest.param({"top_k": 0}, "top_k", id="top-k-zero"),
        pytest.param({"min_confidence": 1.5}, "min_confidence", id="confidence-above-one"),
        pytest.param({"reader_stride": 256}, "reader_stride", id="stride-not-below-length"),
    ],
)
def test_out_of_range_values_raise_config_error(settings: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_config(**settings)


def test_missing_file_raises_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    with pytest.raises(ConfigError, match="does not exist") as excinfo:
        load_config(missing)

    assert str(missing) in str(excinfo.value)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"top_k = \n", id="missing-value"),
        pytest.param(b"[rag\ntop_k = 3\n", id="unclosed-table"),
        pytest.param(b"top_k = 3\ntop_k = 4\n", id="duplicate-key"),
        pytest.param(b"top_k = 3 # \xff\xfe\n", id="not-utf8"),
    ],
)
def test_invalid_toml_raises_config_error_naming_the_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "broken.toml"
    path.write_bytes(data)

    with pytest.raises(ConfigError, match="not valid TOML") as excinfo:
        load_config(path)

    assert str(path) in str(excinfo.value)


def test_rag_that_is_not_a_table_raises_config_error(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'rag = "yes"\n')

    with pytest.raises(ConfigError, match=r"\[rag\] must be a table"):
        load_config(path)


def test_config_error_is_a_rag_error() -> None:
    assert issubclass(ConfigError, RagError)


def test_config_is_frozen() -> None:
    config = Config()

    with pytest.raises(dataclasses.FrozenInstanceError):
        config.top_k = 10  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):
        config.new_field = 1  # type: ignore[attr-defined]  # slots: no new attributes either
    assert dataclasses.replace(config, top_k=10).top_k == 10
    assert config.top_k == Config().top_k != 10


def test_replace_validates_too() -> None:
    with pytest.raises(ConfigError, match="retrieval"):
        dataclasses.replace(Config(), retrieval="sparse")
