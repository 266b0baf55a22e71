"""Stable int64 keys for string user ids (private rows and evaluation seeds are tagged by them).

A canonical decimal id below 10^18 keeps its own value (so MovieLens users keep the keys, and the
evaluation negatives, that the recorded figures used); any other string gets a 63-bit BLAKE2b hash,
stored negative so the two kinds can never collide. Distinct strings stay distinct: a hash collision
between two ids of one site is detected and refused.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_CANONICAL = r"^(0|[1-9][0-9]{0,17})$"


def user_keys(ids: pa.Array) -> np.ndarray:
    """int64 key of each (distinct) id string, in the order given."""
    ids = ids if isinstance(ids, pa.Array) else pa.array(list(ids), pa.string())
    numeric = pc.match_substring_regex(ids, _CANONICAL).to_numpy(zero_copy_only=False)
    keys = np.zeros(len(ids), dtype=np.int64)
    if numeric.any():
        keys[numeric] = pc.cast(ids.filter(pa.array(numeric)), pa.int64()).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(~numeric):
        digest = hashlib.blake2b(ids[int(i)].as_py().encode(), digest_size=8).digest()
        keys[i] = -1 - (int.from_bytes(digest, "big") >> 1)
    if len(np.unique(keys)) != len(keys):
        raise ValueError("two distinct user ids hash to one key; rename one of them")
    return keys


def seed_word(key: int) -> int:
    """A user key as a non-negative seed word (numpy's SeedSequence takes no negatives)."""
    return int(key) % (1 << 64)
