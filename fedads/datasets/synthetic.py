"""Synthetic ads and event logs in the real schema: for speed benchmarks and small fixtures, never for
accuracy claims."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from fedads.catalog.build import build_catalog
from fedads.catalog.catalog import Catalog
from fedads.catalog.schema import CatalogSchema, FeatureSpec

SCHEMA = CatalogSchema((FeatureSpec("category", "categorical"), FeatureSpec("brand", "categorical"),
                        FeatureSpec("price", "numeric")))


def ad_id(i: int) -> str:
    return f"ad-{i}"


def feed(n_ads: int, start: int = 1) -> pa.Table:
    ids = np.arange(start, start + n_ads)
    return pa.table({"ad_id": pa.array([ad_id(int(i)) for i in ids]),
                     "category": pa.array([f"cat-{i % 50}" for i in ids]),
                     "brand": pa.array([f"brand-{i % 997}" for i in ids]),
                     "price": pa.array((ids % 1000).astype(np.float64) + 0.99)})


def catalog(folder: Path, n_ads: int) -> Catalog:
    """Ads ad-1..ad-n (ad-i has index i), written to folder."""
    return build_catalog(feed(n_ads), SCHEMA).write(folder)


def events(n_rows: int, n_users: int, n_ads: int, seed: int = 0, ctr: float = 0.05) -> pa.Table:
    """An impression log: user ids `u<k>`, ads of `catalog`, clicks at rate ctr, conversions among clicks."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_rows)
    names = pa.array([f"u{k}" for k in range(n_users)])
    ads = rng.integers(1, n_ads + 1, n_rows)
    ad_names = pa.array([ad_id(i) for i in range(n_ads + 1)])
    click = (rng.random(n_rows) < ctr).astype(np.int8)
    conversion = (click & (rng.random(n_rows) < 0.1)).astype(np.int8)
    return pa.table({"user_id": names.take(pa.array(users)), "ad_id": ad_names.take(pa.array(ads)),
                     "timestamp": pa.array(1_700_000_000 + np.arange(n_rows, dtype=np.int64)),
                     "click": pa.array(click), "conversion": pa.array(conversion),
                     "value": pa.array(np.where(conversion == 1, 10.0, 0.0))})
