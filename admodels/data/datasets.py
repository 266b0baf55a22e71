"""Every interaction dataset the platform trains on, as one `Interactions` table per name.

MovieLens rows are ratings (a rating ≥ 4 counts as a conversion). Taobao UserBehavior rows are
the first view (pv, a click) of each (user, item) pair with rating 5 when the user later bought the
item and 1 otherwise, so the same CTR/CVR heads and the same conversion threshold apply. UserBehavior
has no demographics: its natural partition key is the user's dominant item category (bucketed),
which gives behaviour-based, non-IID sites; `zip_region` is a stable hash bucket of the user id.
"""
from __future__ import annotations

import numpy as np

from admodels.data.ctr_formats import read_userbehavior, userbehavior_funnel
from admodels.data.movielens import FILES as MOVIELENS, Interactions, load_movielens

USERBEHAVIOR = "taobao-userbehavior"
NAMES = (*MOVIELENS, USERBEHAVIOR)
CATEGORY_BUCKETS = 20


def load_userbehavior() -> Interactions:
    events = read_userbehavior()
    funnel = userbehavior_funnel(events)
    users = np.unique(funnel["user"])
    # Each user's most frequent category over their views → one of CATEGORY_BUCKETS keys.
    pv = events["behavior"] == 0
    pairs = np.stack([events["user"][pv], events["category"][pv]], 1)
    uniq, counts = np.unique(pairs, axis=0, return_counts=True)
    order = np.lexsort((-counts, uniq[:, 0]))
    first = np.r_[True, uniq[order][1:, 0] != uniq[order][:-1, 0]]
    dominant = dict(zip(uniq[order][first, 0].tolist(), uniq[order][first, 1].tolist()))
    occupation = np.array([str(dominant.get(int(u), 0) % CATEGORY_BUCKETS) for u in users])
    zip_region = np.array([str(int(u) % 10) for u in users])
    rating = np.where(funnel["converted"], 5.0, 1.0).astype(np.float32)
    return Interactions(funnel["user"], funnel["item"], rating, funnel["timestamp"], users, zip_region, occupation)


def load_interactions(name: str) -> Interactions:
    if name in MOVIELENS:
        return load_movielens(name)
    if name == USERBEHAVIOR:
        return load_userbehavior()
    raise ValueError(f"unknown dataset {name!r}; one of {', '.join(NAMES)}")
