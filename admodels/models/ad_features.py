"""Ad features, declared once from the catalogue schema, and the per-ad codes the model looks up.

A model config's `features` list says which tables the model has and how many rows each holds; the
codes of every ad (which row of each table it reads) are not weights: they come from the catalogue a
model names, at sites and in serving, as an AdFeatures object. So a model never publishes them, and an
ad the model was never trained on is still embedded through its category, brand or price bucket.

- categorical: one row per vocabulary value (0 padding, 1 unknown); multi-valued ones are mean-pooled.
- numeric: bucketised by the catalogue's decile boundaries: 0 padding, 1 missing, 2.. the buckets.
  The table has a fixed number of rows (every decile split), so a grown catalogue never resizes it.
- text: the catalogue's frozen sentence-model vectors (`semantic.parquet`), one row per ad, read by the
  model's semantic adaptor (admodels.models.semantic) when its config sets use_semantics; like the codes,
  they come from the catalogue and are never published.
"""
from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from fedads.catalog.build import QUANTILES
from fedads.catalog.catalog import index_column
from fedads.catalog.schema import FIRST_INDEX, PAD, UNKNOWN

NUMERIC_ROWS = QUANTILES + FIRST_INDEX  # padding, missing, and at most QUANTILES buckets


class FeatureError(ValueError):
    pass


def declared_features(catalog) -> list[dict]:
    """The model's feature tables for a catalogue: name, kind, rows, multi."""
    out = []
    for f in catalog.schema.features:
        if "." in f.name:
            raise FeatureError(f"catalogue feature {f.name!r}: a feature name the model uses may not contain '.'")
        if f.kind == "categorical":
            out.append({"name": f.name, "kind": "categorical", "rows": catalog.vocab_size(f.name), "multi": f.multi})
        elif f.kind == "numeric":
            out.append({"name": f.name, "kind": "numeric", "rows": NUMERIC_ROWS, "multi": False})
    return out


def semantic_dim(catalog) -> int:
    """The width of the catalogue's text vectors; refuses a catalogue built without them."""
    if catalog.semantic is None:
        raise FeatureError(f"catalogue version {catalog.version} holds no text vectors, which use_semantics needs: "
                           "build it with a [text_encoder] section (fedads-data convert --embed-text)")
    return int(catalog.semantic.shape[1])


def initial_config(architecture: dict, catalog) -> dict:
    """A first model's config: the architecture, sized from the catalogue (ads and, unless
    use_features is false, one table per categorical/numeric ad feature; with use_semantics, the width
    of the catalogue's text vectors)."""
    use = architecture.get("use_features", True)
    out = {**architecture, "n_items": catalog.n_ads, "features": declared_features(catalog) if use else []}
    if architecture.get("use_semantics"):
        out["semantic_dim"] = semantic_dim(catalog)
    return out


def grown_config(old: dict, catalog) -> dict:
    """An existing model's config on a newer catalogue: the same tables (none added or dropped, since
    growth only adds rows), each sized to the new catalogue."""
    sizes = {f["name"]: f for f in declared_features(catalog)}
    features = []
    for f in old.get("features", []):
        if f["name"] not in sizes:
            raise FeatureError(f"the model's feature {f['name']!r} is not in catalogue version {catalog.version}")
        features.append({**f, "rows": max(int(f["rows"]), int(sizes[f["name"]]["rows"]))})
    if old.get("semantic_dim") and semantic_dim(catalog) != int(old["semantic_dim"]):
        raise FeatureError(f"catalogue version {catalog.version}'s text vectors have {semantic_dim(catalog)} "
                           f"dimensions, the model's adaptor reads {old['semantic_dim']}")
    return {**old, "n_items": catalog.n_ads, "features": features}


def _categorical_codes(catalog, name: str, multi: bool) -> np.ndarray:
    if not multi:
        return catalog.feature_codes(name)[:, None]
    col = catalog.ads.column(index_column(name)).combine_chunks()
    lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(col).to_numpy(zero_copy_only=False).astype(np.int64)
    width = max(int(lengths.max()) if len(lengths) else 1, 1)
    codes = np.zeros((catalog.n_ads + 1, width), dtype=np.int64)
    rows = np.repeat(np.arange(1, catalog.n_ads + 1), lengths)
    slot = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    codes[rows, slot] = flat
    codes[1:][lengths == 0, 0] = UNKNOWN  # an ad without values reads the unknown row, not nothing
    return codes


def numeric_codes(values: np.ndarray, boundaries) -> np.ndarray:
    """Bucket code of each value: 1 where missing, else 2 + the number of boundaries at or below it."""
    values = np.asarray(values, dtype=np.float64)
    bucket = np.searchsorted(np.asarray(boundaries, dtype=np.float64), values, side="right") + FIRST_INDEX
    return np.where(np.isfinite(values), bucket, UNKNOWN).astype(np.int64)


class AdFeatures:
    """Per feature, a (n_ads + 1, K) int64 array: the rows of that feature's table each ad index reads
    (row 0, the padding ad, reads padding only); and, for a model with semantics, the (n_ads + 1, S)
    float32 text vectors by ad index (row 0 zeros)."""

    def __init__(self, codes: dict[str, np.ndarray], semantic: np.ndarray | None = None):
        self.codes = {k: np.asarray(v, dtype=np.int64) for k, v in codes.items()}
        self.semantic = None if semantic is None else np.ascontiguousarray(semantic, dtype=np.float32)

    @classmethod
    def from_catalog(cls, catalog, features: list[dict], text_dim: int = 0) -> "AdFeatures":
        """text_dim > 0: also the catalogue's text vectors, which must have that width."""
        semantic = None
        if text_dim:
            if semantic_dim(catalog) != int(text_dim):
                raise FeatureError(f"the model reads {text_dim}-dimensional text vectors, catalogue version "
                                   f"{catalog.version} holds {semantic_dim(catalog)}-dimensional ones")
            semantic = catalog.semantic
        codes = {}
        for f in features:
            name = f["name"]
            kinds = {g.name: g.kind for g in catalog.schema.features}
            if kinds.get(name) != f["kind"]:
                raise FeatureError(f"the model's {f['kind']} feature {name!r} is not a {f['kind']} feature of "
                                   f"catalogue version {catalog.version}")
            if f["kind"] == "categorical":
                c = _categorical_codes(catalog, name, bool(f.get("multi")))
            else:
                stats = catalog.manifest.get("numeric_stats", {}).get(name, {})
                raw = catalog.ads.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
                c = np.concatenate([[PAD], numeric_codes(raw, stats.get("boundaries", []))])[:, None]
            if c.max(initial=0) >= int(f["rows"]):
                raise FeatureError(f"feature {name!r}: catalogue version {catalog.version} has codes up to "
                                   f"{int(c.max())} but the model's table has {f['rows']} rows; grow the model")
            codes[name] = c
        return cls(codes, semantic)

    @property
    def n_ads(self) -> int:
        if self.codes:
            return next(iter(self.codes.values())).shape[0] - 1
        return self.semantic.shape[0] - 1 if self.semantic is not None else 0


def model_features(catalog, config) -> AdFeatures | None:
    """What a model with this config reads from this catalogue: its ad feature codes and, with semantics,
    its text vectors (None for an id-only model). The one place both are built, for sites, serving and
    simulation alike."""
    text_dim = int(getattr(config, "semantic_dim", 0) or 0)
    if not config.features and not text_dim:
        return None
    return AdFeatures.from_catalog(catalog, list(config.features), text_dim)


__all__ = ["AdFeatures", "FeatureError", "declared_features", "grown_config", "initial_config", "model_features",
           "numeric_codes",
           "semantic_dim"]
