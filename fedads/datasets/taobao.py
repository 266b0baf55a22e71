"""Taobao: UserBehavior (pv → click, buy → conversion) and the display-ad click data (Taobao-ad).

UserBehavior has no unclicked impressions: one interaction-only row per first view (pv) of a (user,
item) pair, converted when the user bought the item at or after that view; the item's category is its
catalogue feature. Sites: the user's dominant category in 20 buckets (`occupation`, the name the
MovieLens partitions use) or user id mod 10 (`zip_region`).

Taobao-ad comes in two layouts: the official Tianchi files (raw_sample.csv: one impression per row with
clk; ad_feature.csv; user_profile.csv; behavior_log.csv names categories and brands rather than ads, so it
is not an event log and is not converted) and the DMR processed format of the offline sample (no
impression time: the row order stands for time).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from admodels.data.ctr_formats import (TAOBAO_AD_AD, TAOBAO_AD_PROFILE, read_taobao_ad, read_userbehavior,
                                       userbehavior_funnel)
from admodels.data.paths import find_dataset
from fedads.catalog.schema import CatalogSchema, FeatureSpec
from fedads.datasets.converted import Converted

USERBEHAVIOR_SCHEMA = CatalogSchema((FeatureSpec("category", "categorical"),))
AD_SCHEMA = CatalogSchema(tuple(FeatureSpec(c, "categorical") for c in ("cate_id", "campaign_id", "customer", "brand"))
                          + (FeatureSpec("price", "numeric"),))
PROFILE = TAOBAO_AD_PROFILE[1:]
CATEGORY_BUCKETS = 20  # UserBehavior sites: a user's dominant category, in this many buckets


def convert_userbehavior(path: Path | None = None) -> Converted:
    ev = read_userbehavior(path)
    funnel = userbehavior_funnel(ev)
    items, first = np.unique(ev["item"], return_index=True)
    feed = pa.table({"ad_id": pa.array(items.astype(str)), "category": pa.array(ev["category"][first].astype(str))})
    n = len(funnel["user"])
    events = pa.table({"user_id": pa.array(funnel["user"].astype(str)), "ad_id": pa.array(funnel["item"].astype(str)),
                       "timestamp": pa.array(funnel["timestamp"]), "click": pa.array(np.ones(n, np.int8)),
                       "conversion": pa.array(funnel["converted"].astype(np.int8)), "value": pa.array(np.zeros(n))})
    users = np.unique(funnel["user"])
    pv = ev["behavior"] == 0
    pairs = np.stack([ev["user"][pv], ev["category"][pv]], 1)
    uniq, counts = np.unique(pairs, axis=0, return_counts=True)
    order = np.lexsort((-counts, uniq[:, 0]))
    top = np.r_[True, uniq[order][1:, 0] != uniq[order][:-1, 0]]
    dominant = dict(zip(uniq[order][top, 0].tolist(), uniq[order][top, 1].tolist()))
    keys = {"occupation": np.array([str(dominant.get(int(u), 0) % CATEGORY_BUCKETS) for u in users]),
            "zip_region": np.array([str(int(u) % 10) for u in users])}
    return Converted("taobao-userbehavior", feed, USERBEHAVIOR_SCHEMA, events, users.astype(str), keys,
                     interaction_only=True, default_key="occupation",
                     notes=["interaction-only: pv = click (first view of a pair), buy after the view = conversion"])


def _profile_table(uid, columns: dict) -> tuple[pa.Table, dict]:
    ids, first = np.unique(np.asarray(uid).astype(str), return_index=True)
    table = {"user_id": pa.array(ids)} | {c: pa.array(np.asarray(v)[first].astype(str)) for c, v in columns.items()}
    return pa.table(table), {c: np.asarray(v)[first].astype(str) for c, v in columns.items()}


def convert_taobao_ad_dmr(path: Path | None = None) -> Converted:
    path = path or find_dataset("taobao-ad") / "alimama_dmr_sample_paddlerec.txt"
    t = read_taobao_ad(path)
    n = len(t["click"])
    ads, first = np.unique(t["mid"].astype(str), return_index=True)
    feed = pa.table({"ad_id": pa.array(ads)} | {c: pa.array(t[c][first].astype(str)) for c in TAOBAO_AD_AD[1:5]}
                    | {"price": pa.array(t["price"][first].astype(np.float64))})
    events = pa.table({"user_id": pa.array(t["uid"].astype(str)), "ad_id": pa.array(t["mid"].astype(str)),
                       "timestamp": pa.array(np.arange(n, dtype=np.int64)), "click": pa.array(t["click"].astype(np.int8)),
                       "conversion": pa.array(np.zeros(n, np.int8)), "value": pa.array(np.zeros(n))})
    users, keys = _profile_table(t["uid"], {c: t[c] for c in PROFILE})
    return Converted("taobao-ad", feed, AD_SCHEMA, events, users.column("user_id").to_numpy(zero_copy_only=False),
                     keys, interaction_only=False, users=users, default_key="cms_group_id",
                     notes=["DMR sample: no impression time, row order stands for time", "no conversion label"])


def convert_taobao_ad_official(folder: Path) -> Converted:
    """raw_sample.csv, ad_feature.csv, user_profile.csv of the official release (behavior_log is not an event log)."""
    read = lambda name: pcsv.read_csv(folder / name, convert_options=pcsv.ConvertOptions(  # noqa: E731
        column_types={c: pa.string() for c in ("user", "userid", "adgroup_id", "pid", "cate_id", "campaign_id",
                                                "customer", "brand", *PROFILE)}))
    raw, ad, profile = read("raw_sample.csv"), read("ad_feature.csv"), read("user_profile.csv")
    n = raw.num_rows
    feed = pa.table({"ad_id": ad.column("adgroup_id")} | {c: ad.column(c) for c in TAOBAO_AD_AD[1:5]}
                    | {"price": pc.cast(ad.column("price"), pa.float64())})
    events = pa.table({"user_id": raw.column("user"), "ad_id": raw.column("adgroup_id"),
                       "timestamp": pc.cast(raw.column("time_stamp"), pa.int64()),
                       "click": pc.cast(raw.column("clk"), pa.int8()), "conversion": pa.array(np.zeros(n, np.int8)),
                       "value": pa.array(np.zeros(n))})
    users = pa.table({"user_id": profile.column("userid")} | {c: profile.column(c) for c in PROFILE})
    ids = pc.unique(raw.column("user")).to_numpy(zero_copy_only=False).astype(str)
    prof_ids = users.column("user_id").to_numpy(zero_copy_only=False).astype(str)
    pos = {u: i for i, u in enumerate(prof_ids)}
    keys = {c: np.array([users.column(c)[pos[u]].as_py() if u in pos else "" for u in ids]).astype(str)
            for c in PROFILE}
    return Converted("taobao-ad", feed, AD_SCHEMA, events, ids, keys, interaction_only=False, users=users,
                     default_key="cms_group_id", notes=["official layout: raw_sample impressions with clk",
                                                        "behavior_log not converted (categories and brands, not ads)"])
