"""Criteo display-ad challenge data: it has neither a user id nor an ad id.

Every row is its own user and its own ad (user_id = ad_id = "r<row>"): the catalogue holds each row's
26 hashed categorical fields and 13 integer fields as the ad's features, since Criteo does not say which
side a field describes. Sites by Dirichlet(α) over a categorical field (`dirichlet:ALPHA:C9` by default).
Row order stands for time. Correctness runs only: nothing about users or sequences can be learned here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from admodels.data.ctr_formats import read_criteo
from admodels.data.paths import find_dataset
from fedads.catalog.schema import CatalogSchema, FeatureSpec
from fedads.datasets.converted import Converted

CATEGORICAL = [f"C{j}" for j in range(1, 27)]
NUMERIC = [f"I{j}" for j in range(1, 14)]
SCHEMA = CatalogSchema(tuple(FeatureSpec(c, "categorical") for c in CATEGORICAL)
                       + tuple(FeatureSpec(c, "numeric") for c in NUMERIC))


def convert(path: Path | None = None) -> Converted:
    t = read_criteo(path or find_dataset("criteo") / "train_head1000.txt")
    n = len(t["label"])
    ids = np.array([f"r{i}" for i in range(n)])
    feed = pa.table({"ad_id": pa.array(ids)} | {c: pa.array([v or None for v in t[c]], pa.string())
                                                 for c in CATEGORICAL}
                    | {c: pa.array(t[c].astype(np.float64)) for c in NUMERIC})
    events = pa.table({"user_id": pa.array(ids), "ad_id": pa.array(ids),
                       "timestamp": pa.array(np.arange(n, dtype=np.int64)), "click": pa.array(t["label"].astype(np.int8)),
                       "conversion": pa.array(np.zeros(n, np.int8)), "value": pa.array(np.zeros(n))})
    keys = {c: np.asarray(t[c]).astype(str) for c in CATEGORICAL}
    return Converted("criteo", feed, SCHEMA, events, ids, keys, interaction_only=False, default_key="C9", default_split="dirichlet:0.5:C9",
                     notes=["no user id and no ad id: each row is its own user and ad",
                            "sites by Dirichlet over a categorical field (default dirichlet:0.5:C9)"])
