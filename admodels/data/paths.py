"""Where datasets are found: $FEDADS_DATA, then ../shared/data beside the checkout, then the user cache."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def data_roots() -> list[Path]:
    roots = []
    if os.environ.get("FEDADS_DATA"):
        roots.append(Path(os.environ["FEDADS_DATA"]))
    roots.append(REPO_ROOT.parent / "shared" / "data")
    roots.append(cache_dir() / "data")
    return roots


def cache_dir() -> Path:
    return Path(os.environ.get("FEDADS_CACHE", Path.home() / ".cache" / "fedads"))


def find_dataset(name: str) -> Path:
    for root in data_roots():
        if (root / name).is_dir():
            return root / name
    looked = ", ".join(str(r) for r in data_roots())
    raise FileNotFoundError(f"dataset {name!r} not found (looked in {looked}); set FEDADS_DATA to its parent folder")
