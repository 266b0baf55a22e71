"""Splitting users into sites: by a natural key, by Dirichlet(α) over a label, or one user per site."""
from __future__ import annotations

import numpy as np


def by_natural_key(user_ids: np.ndarray, keys: np.ndarray, n_sites: int) -> list[np.ndarray]:
    """Whole key groups (e.g. zip-code regions) go to sites, largest first onto the lightest site."""
    values, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    if n_sites > len(values):
        raise ValueError(f"{n_sites} sites requested but the key has only {len(values)} distinct values")
    load = np.zeros(n_sites, dtype=np.int64)
    members: list[list[int]] = [[] for _ in range(n_sites)]
    for g in np.argsort(-counts, kind="stable"):
        site = int(np.argmin(load))
        members[site].append(g)
        load[site] += counts[g]
    return [np.sort(user_ids[np.isin(inverse, m)]) for m in members]


def dirichlet(user_ids: np.ndarray, labels: np.ndarray, n_sites: int, alpha: float, seed: int = 0) -> list[np.ndarray]:
    """Each label's users spread over sites by proportions drawn from Dirichlet(α); small α, more skew."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(n_sites)]
    for label in np.unique(labels):
        users = rng.permutation(user_ids[labels == label])
        cuts = (np.cumsum(rng.dirichlet(np.full(n_sites, alpha))) * len(users)).astype(int)[:-1]
        for site, chunk in enumerate(np.split(users, cuts)):
            parts[site].append(chunk)
    return [np.sort(np.concatenate(p)) if p else np.array([], dtype=user_ids.dtype) for p in parts]


def one_user_per_site(user_ids: np.ndarray) -> list[np.ndarray]:
    return [np.array([u]) for u in np.sort(user_ids)]
