"""Scoring ads newer than the served model's catalogue through their features.

A catalogue only appends, so an ad added after the model was trained has an index past the model's
id table, while its category, brand and price rows already exist in the model's shared feature tables.
Serving extends the model for the registry's newest catalogue: the id table gains zero rows (the model
knows nothing of those ids), and every ad reads feature codes. Known ads keep exactly the codes of the
model's own catalogue (their scores do not move); new ads take the newer catalogue's categorical codes,
where a value the model's tables have no row for reads the unknown row, and numeric buckets by the
boundaries of the model's catalogue, which the model was trained on. An id-only model cannot do this,
and serving keeps refusing such ads for it.
"""
from __future__ import annotations

import numpy as np
import torch

from admodels.models.ad_features import AdFeatures, numeric_codes
from admodels.models.fedads_model import FedAdsModel, ModelConfig
from fedads.catalog.catalog import Catalog
from fedads.catalog.schema import UNKNOWN

_ANY_ROWS = 1 << 62  # reads the newer catalogue's codes without the model's table-size check


def extended_codes(features: list, model_catalog: Catalog, newer: Catalog, text_dim: int = 0) -> AdFeatures:
    """Per feature, the codes of every ad of the newer catalogue as the model's tables read them; with
    text_dim, the newer catalogue's text vectors too."""
    base = AdFeatures.from_catalog(model_catalog, features).codes
    # Growth keeps every ad's text vector, so the newer catalogue's vectors cover old and new ads alike.
    semantic = AdFeatures.from_catalog(newer, [], text_dim).semantic if text_dim else None
    fresh = AdFeatures.from_catalog(newer, [{**f, "rows": _ANY_ROWS} for f in features]).codes
    n_old = model_catalog.n_ads
    out = {}
    for f in features:
        name, old = f["name"], base[f["name"]]
        if f["kind"] == "numeric":
            stats = model_catalog.manifest.get("numeric_stats", {}).get(name, {})
            raw = newer.ads.column(name).to_numpy(zero_copy_only=False).astype(np.float64)[n_old:]
            added = numeric_codes(raw, stats.get("boundaries", []))[:, None]
        else:
            added = fresh[name][n_old + 1:]
            added = np.where(added >= int(f["rows"]), UNKNOWN, added)
        width = max(old.shape[1], added.shape[1])
        pad = lambda c: np.pad(c, ((0, 0), (0, width - c.shape[1])))  # noqa: E731 - 0 is padding
        out[name] = np.concatenate([pad(old), pad(added)])
    return AdFeatures(out, semantic)


def extend_model(model: FedAdsModel, model_catalog: Catalog, newer: Catalog) -> FedAdsModel:
    """The model, able to score every ad of `newer` (a later version of its catalogue): an eval-mode copy."""
    config = model.config
    n_new = newer.n_ads
    grown = ModelConfig.from_dict({**config.to_dict(), "n_items": n_new})
    state = model.shared_state()
    ids = state["item_emb.weight"]
    state["item_emb.weight"] = np.concatenate([ids, np.zeros((n_new - config.n_items, ids.shape[1]), ids.dtype)])
    with torch.random.fork_rng():  # the copy's throwaway initialisation must not move the caller's RNG
        out = FedAdsModel(grown, extended_codes(list(config.features), model_catalog, newer,
                                                 int(config.semantic_dim or 0)))
    out.load_shared_state(state)
    return out.eval()
