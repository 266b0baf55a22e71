"""MovieLens-100K and -1M: movies → catalogue (title, genres, year), ratings → interaction-only events.

Every rating is a click (MovieLens has no unclicked impressions: interaction_only); a rating ≥ 4 is a
conversion, and `value` carries the 1-5 rating itself (MovieLens has no revenue), which the value head
regresses as rating / value_scale (5), exactly as the recorded figures were trained. Demographics (age,
gender, occupation, zip) are private user features. Only ML-1M users 1-2999 have ratings offline.
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from admodels.data.movielens import load_movielens
from admodels.data.paths import find_dataset
from fedads.catalog.schema import CatalogSchema, FeatureSpec
from fedads.datasets.converted import Converted

SCHEMA = CatalogSchema((FeatureSpec("genres", "categorical", "|"), FeatureSpec("year", "numeric"),
                        FeatureSpec("title", "text")), value_scale=5.0)
_YEAR = re.compile(r"\((\d{4})\)\s*$")


def _movies(name: str) -> pa.Table:
    folder = find_dataset(name)
    ids, titles, genres = [], [], []
    if name == "ml-100k":
        names = [ln.split("|")[0] for ln in (folder / "u.genre").read_text(encoding="latin-1").splitlines()
                 if ln.strip()]
        for line in (folder / "u.item").read_text(encoding="latin-1").splitlines():
            f = line.split("|")
            if len(f) < 5 + len(names):
                continue
            ids.append(f[0])
            titles.append(f[1])
            genres.append("|".join(g for g, flag in zip(names, f[5:5 + len(names)]) if flag == "1"))
    else:
        for line in (folder / "movies.dat").read_text(encoding="latin-1").splitlines():
            f = line.split("::")
            if len(f) == 3:
                ids.append(f[0])
                titles.append(f[1])
                genres.append(f[2])
    order = np.argsort(np.array(ids, dtype=np.int64), kind="stable")
    year = [float(m.group(1)) if (m := _YEAR.search(t)) else None for t in titles]
    pick = lambda xs: [xs[i] for i in order]  # noqa: E731
    return pa.table({"ad_id": pa.array(pick(ids), pa.string()), "genres": pa.array(pick(genres), pa.string()),
                     "year": pa.array(pick(year), pa.float64()), "title": pa.array(pick(titles), pa.string())})


def _users(name: str) -> pa.Table:
    folder = find_dataset(name)
    if name == "ml-100k":
        rows = [ln.split("|") for ln in (folder / "u.user").read_text(encoding="latin-1").splitlines() if ln.strip()]
        cols = {"user_id": 0, "age": 1, "gender": 2, "occupation": 3, "zip": 4}
    else:
        rows = [ln.split("::") for ln in (folder / "users.dat").read_text(encoding="latin-1").splitlines()
                if ln.strip()]
        cols = {"user_id": 0, "gender": 1, "age": 2, "occupation": 3, "zip": 4}
    table = {k: [r[i].strip() for r in rows] for k, i in cols.items()}
    # ML-1M's age is already its bucket; ML-100K's raw age is bucketed the same way, so both declare one
    # low-cardinality public field.
    table["age_bucket"] = [age_bucket(a) for a in table["age"]] if name == "ml-100k" else table["age"]
    return pa.table({k: pa.array(v, pa.string()) for k, v in table.items()})


AGE_BUCKETS = ("1", "18", "25", "35", "45", "50", "56")  # ML-1M's README: under 18, 18-24, ..., 56+
# Public (global) user-feature tables: the two low-cardinality profile fields; occupation and zip stay private.
PUBLIC_USER_FEATURES = {"age_bucket": list(AGE_BUCKETS), "gender": ["F", "M"]}


def age_bucket(age: str) -> str:
    """ML-1M's age bucket of a raw age: the largest bucket start at or below it (under 18 → "1")."""
    years = int(age)
    return next(b for b in reversed(AGE_BUCKETS) if years >= int(b)) if years >= 18 else "1"


def convert(name: str) -> Converted:
    data = load_movielens(name)
    rating = data.rating.astype(np.float64)
    events = pa.table({"user_id": pa.array(data.user.astype(str)), "ad_id": pa.array(data.item.astype(str)),
                       "timestamp": pa.array(data.timestamp, pa.int64()),
                       "click": pa.array(np.ones(len(rating), np.int8)),
                       "conversion": pa.array((rating >= 4).astype(np.int8)), "value": pa.array(rating)})
    return Converted(name, _movies(name), SCHEMA, events, data.user_ids.astype(str),
                     {"zip_region": data.zip_region, "occupation": data.occupation}, interaction_only=True,
                     users=_users(name), user_feature_columns=("age_bucket", "gender", "occupation", "zip"),
                     public_user_features=PUBLIC_USER_FEATURES, default_key="zip_region", dirichlet_key="occupation",
                     text_fields=("title", "genres"),
                     notes=["interaction-only: every rating is a click; conversion = rating ≥ 4; value = rating"])
