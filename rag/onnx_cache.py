"""What names a cached ONNX export: a fingerprint of the model files it was made from."""

from __future__ import annotations

import hashlib
from pathlib import Path


def source_key(kind: str, location: str, recipe: str) -> str:
    """What the file came from: the model files' names, sizes, times and sampled bytes (or a Hub id),
    kind and recipe.

    Sizes and times alone are not enough: a retrained reader has the same architecture, so its
    weights file has the same size to the byte, and a copy can keep the old time (``cp -p``, a
    wheel's stored dates). Hashing all 90 MB on every start would cost a fifth of a second of the
    cold start, so a fingerprint of the bytes at a few places in each file is hashed instead: any
    fine-tuning changes every block of the weights.
    """
    digest = hashlib.sha256(f"{kind}|{recipe}".encode())
    folder = Path(location)
    files = sorted(p for pattern in ("*.safetensors", "*.bin", "config.json") for p in folder.glob(pattern)) if folder.is_dir() else []
    for path in files:
        stat = path.stat()
        digest.update(f"|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|".encode())
        digest.update(_sampled_bytes(path, stat.st_size))
    if not files:
        digest.update(f"|{location}".encode())
    return digest.hexdigest()[:16]


_SAMPLES, _SAMPLE_BYTES = 16, 4096


def _sampled_bytes(path: Path, size: int) -> bytes:
    """``_SAMPLES`` blocks of the file, evenly spaced from its start to its end (the whole of a small file)."""
    with path.open("rb") as f:
        if size <= _SAMPLES * _SAMPLE_BYTES:
            return f.read()
        blocks = []
        for i in range(_SAMPLES):
            f.seek((size - _SAMPLE_BYTES) * i // (_SAMPLES - 1))
            blocks.append(f.read(_SAMPLE_BYTES))
        return b"".join(blocks)
