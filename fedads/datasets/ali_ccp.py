"""Ali-CCP (ESMM's click + purchase data): field 101 is the user, 205 the item (ad).

Item fields 206 (category), 207 (shop), 216 (brand) and, where present, 210 (intention node) are ad
features; user fields 121-129 are private user features. The samples carry no time: row order stands
for time. Both offline layouts are read (torch-rechub's label-encoded sample and PaddleRec's raw ids).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from admodels.data.ctr_formats import read_ali_ccp
from admodels.data.paths import find_dataset
from fedads.catalog.schema import CatalogSchema, FeatureSpec
from fedads.datasets.converted import Converted

AD_FIELDS = ("206", "207", "210", "216")
USER_FIELDS = ("121", "122", "124", "125", "126", "127", "128", "129")
DEFAULT_FILES = ("ali_ccp_train_sample.csv", "ali_ccp_val_sample.csv", "ali_ccp_test_sample.csv")


def convert(paths: list[Path] | None = None) -> Converted:
    paths = paths or [find_dataset("ali-ccp") / f for f in DEFAULT_FILES]
    parts = [read_ali_ccp(p) for p in paths]
    t = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if all(k in p for p in parts)}
    ad_fields = [f for f in AD_FIELDS if f in t]
    n = len(t["click"])
    ads, first = np.unique(t["205"].astype(str), return_index=True)
    schema = CatalogSchema(tuple(FeatureSpec(f"f{f}", "categorical") for f in ad_fields))
    feed = pa.table({"ad_id": pa.array(ads)} | {f"f{f}": pa.array(t[f][first].astype(str)) for f in ad_fields})
    conversion = (t["purchase"] * t["click"]).astype(np.int8)
    events = pa.table({"user_id": pa.array(t["101"].astype(str)), "ad_id": pa.array(t["205"].astype(str)),
                       "timestamp": pa.array(np.arange(n, dtype=np.int64)), "click": pa.array(t["click"].astype(np.int8)),
                       "conversion": pa.array(conversion), "value": pa.array(np.zeros(n))})
    users, first = np.unique(t["101"].astype(str), return_index=True)
    user_fields = [f for f in USER_FIELDS if f in t]
    table = pa.table({"user_id": pa.array(users)} | {f"f{f}": pa.array(t[f][first].astype(str)) for f in user_fields})
    keys = {f"f{f}": t[f][first].astype(str) for f in user_fields}
    dropped = int((t["purchase"] > t["click"]).sum())
    return Converted("ali-ccp", feed, schema, events, users, keys, interaction_only=False, users=table,
                     default_key="f129", notes=["no impression time: row order stands for time",
                                                f"{dropped} purchase(s) without a click dropped"])
