"""MovieLens-100K and -1M readers (vectorised, cached as .npz)."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from admodels.data.paths import cache_dir, find_dataset


@dataclass
class Interactions:
    """One row per rating, with the users' demographic keys for natural partitioning."""
    user: np.ndarray       # raw user ids (int64)
    item: np.ndarray       # raw item ids (int64)
    rating: np.ndarray     # 1..5 (float32)
    timestamp: np.ndarray  # unix seconds (int64)
    user_ids: np.ndarray   # users with demographics
    zip_region: np.ndarray  # first character of the zip code, per user_ids
    occupation: np.ndarray  # per user_ids

    def subset_users(self, keep: np.ndarray) -> "Interactions":
        rows = np.isin(self.user, keep)
        users = np.isin(self.user_ids, keep)
        return Interactions(self.user[rows], self.item[rows], self.rating[rows], self.timestamp[rows],
                            self.user_ids[users], self.zip_region[users], self.occupation[users])


FILES = {
    "ml-100k": {"ratings": "u.data", "sep": "\t", "users": "u.user", "user_sep": "|", "zip_col": 4, "occ_col": 3},
    # Only users 1-2999 of the official ratings.dat are available offline (see its SOURCE.md);
    # the official complete file is used when present.
    "ml-1m": {"ratings": ["ratings.dat", "ratings_users_0001-2999.dat"], "sep": "::", "users": "users.dat",
              "user_sep": "::", "zip_col": 4, "occ_col": 3},
}


def _ratings_file(folder: Path, spec) -> Path:
    names = spec["ratings"] if isinstance(spec["ratings"], list) else [spec["ratings"]]
    for name in names:
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"none of {names} in {folder}")


def _parse_ints(path: Path, sep: str, columns: int) -> np.ndarray:
    raw = path.read_bytes().replace(sep.encode(), b" ")
    return np.array(raw.split(), dtype=np.int64).reshape(-1, columns)


def load_movielens(name: str = "ml-100k") -> Interactions:
    if name not in FILES:
        raise ValueError(f"unknown MovieLens dataset {name!r}; choose one of {sorted(FILES)}")
    spec = FILES[name]
    folder = find_dataset(name)
    ratings_path = _ratings_file(folder, spec)
    stat = ratings_path.stat()
    key = hashlib.sha256(f"{ratings_path}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cache = cache_dir() / "preprocessed" / f"{name}-{key}.npz"
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        return Interactions(**{k: z[k] for k in z.files})
    table = _parse_ints(ratings_path, spec["sep"], 4)
    lines = (folder / spec["users"]).read_text(encoding="latin-1").splitlines()
    fields = [ln.split(spec["user_sep"]) for ln in lines if ln.strip()]
    user_ids = np.array([int(f[0]) for f in fields], dtype=np.int64)
    zip_region = np.array([f[spec["zip_col"]].strip()[:1] or "?" for f in fields])
    occupation = np.array([f[spec["occ_col"]].strip() for f in fields])
    data = Interactions(table[:, 0], table[:, 1], table[:, 2].astype(np.float32), table[:, 3], user_ids,
                        zip_region, occupation)
    cache.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own per process: parallel loaders (sweeps) must not rename each other's file.
    tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **data.__dict__)
    tmp.replace(cache)
    return data
