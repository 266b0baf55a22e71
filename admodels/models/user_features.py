"""User features, declared by the site's data manifest and read by the model's user vector.

A model config's `user_features` names the user-feature columns the model reads, each with a scope:
- `global`: a low-cardinality public profile field (age bucket, gender). Its table is a shared model
  parameter, with one row per value the config lists (0 padding, 1 unknown, 2.. the values in order), so
  every site means the same row by the same value. A site trains it only where its data manifest declares
  the column public with exactly those values.
- `private` (the default, and what a `global` feature becomes at a site that did not declare it public):
  its table lives in the site's PrivateUserState, sized from the site's own values, and is never sent.
Each user's codes (which row of each table it reads) are site data: they sit in the private state as
buffers, never saved, never published.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fedads.catalog.schema import FIRST_INDEX, PAD, UNKNOWN
from fedads.eventlog.keys import user_keys as keys_of
from fedads.eventlog.reader import read_user_features

GLOBAL, PRIVATE = "global", "private"


class UserFeatureError(ValueError):
    pass


def declared_user_features(site_data, columns: list[str] | None = None) -> list[dict]:
    """The model config entries for a site manifest's user-feature columns (all of them by default):
    public ones `global` with their values, the others `private`."""
    out = []
    for name in (site_data.user_feature_columns if columns is None else columns):
        if name not in site_data.user_feature_columns:
            raise UserFeatureError(f"user feature {name!r} is not declared in the site's user_feature_columns")
        if site_data.scope_of(name) == GLOBAL:
            out.append({"name": name, "scope": GLOBAL, "values": list(site_data.public_user_features[name])})
        else:
            out.append({"name": name, "scope": PRIVATE})
    return out


def check_user_features(features: list) -> None:
    """A model config's user_features: each named once, `global` ones with their values."""
    seen = set()
    for f in features:
        name, scope = f.get("name"), f.get("scope", PRIVATE)
        if not name or "." in name or name in seen:
            raise UserFeatureError(f"user feature {name!r}: a unique name without '.' is needed")
        seen.add(name)
        if scope not in (GLOBAL, PRIVATE):
            raise UserFeatureError(f"user feature {name!r}: scope must be global or private, not {scope!r}")
        if scope == GLOBAL and not f.get("values"):
            raise UserFeatureError(f"global user feature {name!r} needs its list of values")


def global_rows(feature: dict) -> int:
    return len(feature["values"]) + FIRST_INDEX


class UserFeatureCodes:
    """Per model user feature the site can read: each local user's row, in the order of the data's
    user_keys. `global_codes` index the model's shared tables; `private_codes` the site's own tables,
    whose sizes `private_rows` gives."""

    def __init__(self, global_codes: dict, private_codes: dict, private_rows: dict):
        self.global_codes = global_codes
        self.private_codes = private_codes
        self.private_rows = private_rows

    @property
    def empty(self) -> bool:
        return not self.global_codes and not self.private_codes

    @classmethod
    def build(cls, site_data, features: list, user_keys: np.ndarray) -> "UserFeatureCodes | None":
        """None where the model reads no user feature the site has."""
        usable = [f for f in features if f["name"] in site_data.user_feature_columns]
        if not usable or site_data.user_features is None:
            return None
        table = read_user_features(site_data.user_features, [f["name"] for f in usable])
        # Each local user's row of the table; users the table lacks read the unknown row.
        keys = keys_of(table.column("user_id"))
        order = np.argsort(keys)
        at = np.searchsorted(keys[order], user_keys)
        at = np.minimum(at, max(len(keys) - 1, 0))
        found = (keys[order][at] == user_keys) if len(keys) else np.zeros(len(user_keys), bool)
        rows = np.where(found, order[at] if len(keys) else 0, -1)
        glob, priv, sizes = {}, {}, {}
        for f in usable:
            name = f["name"]
            values = table.column(name).combine_chunks()
            shared = f.get("scope", PRIVATE) == GLOBAL and site_data.scope_of(name) == GLOBAL
            if shared:
                if list(site_data.public_user_features[name]) != list(f["values"]):
                    raise UserFeatureError(
                        f"public user feature {name!r}: the site declares the values "
                        f"{site_data.public_user_features[name]} but the model's shared table has {f['values']}; "
                        "declare the federation's values in this order in data.toml")
                vocab = list(f["values"])
            else:
                present = pc.unique(pc.drop_null(values)).to_pylist()
                vocab = sorted(v for v in present if v != "")
            codes = _codes(values, vocab, rows)
            if shared:
                glob[name] = codes
            else:
                priv[name], sizes[name] = codes, len(vocab) + FIRST_INDEX
        return cls(glob, priv, sizes)


def _codes(values: pa.Array, vocab: list[str], rows: np.ndarray) -> np.ndarray:
    """Each user's row: FIRST_INDEX + the value's place in vocab; unknown values, empty or missing ones and
    users without a row of the table read UNKNOWN."""
    index = pc.index_in(values, value_set=pa.array(vocab, pa.string())).to_numpy(zero_copy_only=False)
    per_row = np.where(np.isnan(index.astype(np.float64)), UNKNOWN, np.nan_to_num(index) + FIRST_INDEX)
    out = np.full(len(rows), UNKNOWN, dtype=np.int64)
    out[rows >= 0] = per_row[rows[rows >= 0]].astype(np.int64)
    assert PAD not in out  # a real user always reads a row
    return out


__all__ = ["UserFeatureCodes", "UserFeatureError", "check_user_features", "declared_user_features", "global_rows"]
