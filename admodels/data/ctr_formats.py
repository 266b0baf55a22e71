"""Readers for the advertising datasets' exact formats: Taobao UserBehavior, Taobao-ad (DMR), Ali-CCP, Criteo.

Each reader returns plain numpy arrays keyed by column name; the same code reads the samples in
../shared/data and the full official files.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from admodels.data.paths import find_dataset

BEHAVIOURS = ("pv", "cart", "fav", "buy")
TAOBAO_AD_PROFILE = ["uid", "cms_segid", "cms_group_id", "final_gender_code", "age_level", "pvalue_level",
                     "shopping_level", "occupation", "new_user_class_level"]
TAOBAO_AD_AD = ["mid", "cate_id", "campaign_id", "customer", "brand", "price"]


def read_userbehavior(path: Path | None = None) -> dict[str, np.ndarray]:
    """`user_id,item_id,category_id,behavior_type,timestamp` (no header); behaviour coded by BEHAVIOURS."""
    path = path or find_dataset("taobao-userbehavior") / "UserBehavior_sample.csv"
    raw = Path(path).read_bytes()
    for code, name in enumerate(BEHAVIOURS):
        raw = raw.replace(b"," + name.encode() + b",", f",{code},".encode())
    table = np.array(raw.replace(b",", b" ").split(), dtype=np.int64).reshape(-1, 5)
    return {"user": table[:, 0], "item": table[:, 1], "category": table[:, 2], "behavior": table[:, 3],
            "timestamp": table[:, 4]}


def userbehavior_funnel(events: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Click (pv) → conversion (buy) funnel: one row per first view of a (user, item) pair, with
    `converted` = the user bought that item at or after the view. Rows come out in time order."""
    pv = events["behavior"] == BEHAVIOURS.index("pv")
    buy = events["behavior"] == BEHAVIOURS.index("buy")
    key = events["user"] * np.int64(10 ** 8) + events["item"]
    order = np.lexsort((events["timestamp"][pv], key[pv]))
    pv_key, pv_ts = key[pv][order], events["timestamp"][pv][order]
    first = np.r_[True, pv_key[1:] != pv_key[:-1]]
    pv_key, pv_ts = pv_key[first], pv_ts[first]
    # The latest purchase of each (user, item); a view converts if a purchase follows it.
    buy_key, buy_ts = key[buy], events["timestamp"][buy]
    last_buy = {}
    for k, t in zip(buy_key.tolist(), buy_ts.tolist()):
        last_buy[k] = max(t, last_buy.get(k, t))
    converted = np.array([last_buy.get(k, -1) >= t for k, t in zip(pv_key.tolist(), pv_ts.tolist())], dtype=bool)
    rows = np.argsort(pv_ts, kind="stable")
    return {"user": (pv_key // 10 ** 8)[rows], "item": (pv_key % 10 ** 8)[rows], "timestamp": pv_ts[rows],
            "converted": converted[rows]}


def read_taobao_ad(path: Path) -> dict[str, np.ndarray]:
    """DMR format, 267 comma-separated columns (the .csv has a header, the .txt none); empty/NULL → 0."""
    lines = Path(path).read_text().splitlines()
    if lines and lines[0].startswith("cont_btag"):
        lines = lines[1:]
    rows = [[0.0 if v in ("", "NULL") else float(v) for v in ln.split(",")] for ln in lines if ln.strip()]
    if any(len(r) != 267 for r in rows):
        raise ValueError(f"{path}: every Taobao-ad (DMR) row has 267 columns")
    t = np.array(rows)
    out = {"btag": t[:, 0:50].astype(np.int64), "his_cate": t[:, 50:100].astype(np.int64),
           "his_brand": t[:, 100:150].astype(np.int64), "pid": t[:, 265].astype(np.int64),
           "click": t[:, 266].astype(np.int64)}
    for i, name in enumerate(TAOBAO_AD_PROFILE):
        out[name] = t[:, 250 + i].astype(np.int64)
    for i, name in enumerate(TAOBAO_AD_AD):
        out[name] = t[:, 259 + i] if name == "price" else t[:, 259 + i].astype(np.int64)
    return out


def read_ali_ccp(path: Path) -> dict[str, np.ndarray]:
    """Ali-CCP with header `click,purchase,<field ids>`; `D…` columns are float feature values."""
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    if header[:2] != ["click", "purchase"]:
        raise ValueError(f"{path}: an Ali-CCP file starts with the columns click,purchase")
    cols = list(zip(*rows))
    out = {}
    for name, values in zip(header, cols):
        out[name] = np.array(values, dtype=np.float64 if name.startswith("D") else np.int64)
    return out


def read_criteo(path: Path) -> dict[str, np.ndarray]:
    """Criteo: the Kaggle format (tab-separated label, I1–I13, C1–C26, no header) or DeepCTR's CSV with header."""
    text = Path(path).read_text()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines[0].startswith("label,"):
        rows = [ln.split(",") for ln in lines[1:]]
    else:
        rows = [ln.split("\t") for ln in lines]
    if any(len(r) != 40 for r in rows):
        raise ValueError(f"{path}: every Criteo row has 40 fields (label, 13 integer, 26 categorical)")
    out = {"label": np.array([int(r[0]) for r in rows])}
    for j in range(13):
        out[f"I{j + 1}"] = np.array([float(r[1 + j]) if r[1 + j] != "" else np.nan for r in rows])
    for j in range(26):
        out[f"C{j + 1}"] = np.array([r[14 + j] for r in rows])
    return out
