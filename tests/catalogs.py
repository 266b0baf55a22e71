"""Small real catalogues for tests that need a model but not a dataset (fedads.datasets.synthetic)."""
from __future__ import annotations

import json
from pathlib import Path

from admodels.models.fedads_model import ModelConfig, build_model
from fedads.catalog.catalog import Catalog
from fedads.datasets.synthetic import ad_id, catalog as synthetic_catalog
from fedads.runtime.catalog_store import CatalogStore
from fedads.runtime.registry import ModelRegistry

__all__ = ["ad_id", "tiny_catalog", "registry_with_model", "write_model_config"]


def tiny_catalog(folder: Path, n_ads: int) -> Catalog:
    return synthetic_catalog(folder, n_ads)


def registry_with_model(root: Path, n_ads: int, seed: int = 1, **config) -> tuple[ModelRegistry, Catalog, ModelConfig]:
    """A registry holding a tiny catalogue and a first model sized from it."""
    registry = ModelRegistry(root)
    catalog, _ = CatalogStore(root).import_catalog(tiny_catalog(root.parent / f"{root.name}-catalog", n_ads).root)
    model_config = ModelConfig(n_items=catalog.n_ads, **config)
    registry.publish(**build_model(model_config, seed=seed).publication(), parent_version=0, round_id=0,
                     catalog=catalog.ref())
    return registry, catalog, model_config


def write_model_config(folder: Path, n_ads: int = 20, **config) -> list[str]:
    """coordinator arguments `--init-model FILE --catalog DIR` for a tiny architecture and catalogue."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.json").write_text(json.dumps(config))
    catalog = tiny_catalog(folder / "catalog", n_ads)
    return ["--init-model", str(folder / "model.json"), "--catalog", str(catalog.root)]
