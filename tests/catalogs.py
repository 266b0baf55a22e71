"""Small real catalogues for tests that need a model but not a dataset."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from admodels.models.fedads_model import ModelConfig, build_model
from fedads.catalog.build import build_catalog
from fedads.catalog.catalog import Catalog
from fedads.catalog.schema import CatalogSchema, FeatureSpec
from fedads.runtime.catalog_store import CatalogStore
from fedads.runtime.registry import ModelRegistry

SCHEMA = CatalogSchema((FeatureSpec("category", "categorical"), FeatureSpec("price", "numeric")))


def ad_id(i: int) -> str:
    return f"ad-{i}"


def feed(n: int, start: int = 1) -> pa.Table:
    ids = list(range(start, start + n))
    return pa.table({"ad_id": [ad_id(i) for i in ids], "category": [f"cat-{i % 5}" for i in ids],
                     "price": [float(i) for i in ids]})


def tiny_catalog(folder: Path, n_ads: int) -> Catalog:
    """Ads ad-1..ad-n (index i for ad-i), written to folder."""
    return build_catalog(feed(n_ads), SCHEMA).write(folder)


def registry_with_model(root: Path, n_ads: int, seed: int = 1, **config) -> tuple[ModelRegistry, Catalog, ModelConfig]:
    """A registry holding a tiny catalogue and a first model sized from it."""
    registry = ModelRegistry(root)
    catalog, _ = CatalogStore(root).import_catalog(tiny_catalog(root.parent / f"{root.name}-catalog", n_ads).root)
    model_config = ModelConfig(n_items=catalog.n_ads, **config)
    registry.publish(**build_model(model_config, seed=seed).publication(), parent_version=0, round_id=0,
                     catalog=catalog.ref())
    return registry, catalog, model_config


def write_model_config(folder: Path, **config) -> tuple[Path, Path]:
    """(model architecture JSON, catalogue folder) for `coordinator --init-model ... --catalog ...`."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.json").write_text(json.dumps(config))
    catalog = tiny_catalog(folder / "catalog", config.pop("n_ads", 20))
    return folder / "model.json", catalog.root
