"""The coordinator's catalogue duties at start-up: import a new catalogue version into the registry,
publish the first model sized from it, and grow the newest model when the catalogue grew.

Sizes never come from a hand-written config: `--init-model` holds the architecture only, and n_items is
the catalogue's ad count.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from admodels.models.ad_features import FeatureError, grown_config, initial_config, model_features
from admodels.models.fedads_model import ModelConfig, build_model
from admodels.models.growth import grow_tensors
from fedads.catalog.catalog import CatalogError
from fedads.runtime.catalog_store import CatalogStore
from fedads.runtime.registry import ModelRegistry

log = logging.getLogger("coordinator")


class CatalogSetupError(ValueError):
    pass


def model_config_for(path: Path, catalog) -> ModelConfig:
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CatalogSetupError(f"--init-model {path}: no such file (the sample is deploy/config/model_config.json)") \
            from None
    except json.JSONDecodeError as exc:
        raise CatalogSetupError(f"--init-model {path} is not valid JSON: {exc}") from None
    for sized in ("n_items", "features", "semantic_dim"):
        if sized in raw:
            raise CatalogSetupError(f"--init-model {path}: remove {sized}; model sizes come from the catalogue")
    try:
        return ModelConfig.from_dict(initial_config(raw, catalog))
    except (TypeError, ValueError) as exc:
        raise CatalogSetupError(f"--init-model {path}: {exc}") from None


def import_catalog(registry: ModelRegistry, catalog_dir: Path | None, init_model: Path | None) -> None:
    """Before the database opens: import a new catalogue version, and check the architecture file, so a bad
    --catalog or --init-model leaves nothing behind."""
    store = CatalogStore(registry.root)
    if catalog_dir is not None:
        try:
            catalog, added = store.import_catalog(catalog_dir)
        except CatalogError as exc:
            raise CatalogSetupError(f"--catalog {catalog_dir}: {exc}") from None
        if added:
            log.info("catalogue imported", extra={"version": catalog.version, "sha256": catalog.sha256,
                                                  "ads": catalog.n_ads, "folder": str(store.path(catalog.version))})
    if init_model is not None and not registry.versions():
        if not store.versions():
            raise CatalogSetupError("the registry holds no catalogue: start the coordinator with --catalog DIR "
                                    "(built by fedads-catalog build or fedads-data convert)")
        model_config_for(init_model, store.get())


def publish_for_catalog(registry: ModelRegistry, publish, init_model: Path | None, seed: int = 0) -> list[dict]:
    """The first model sized from the newest catalogue (when the registry holds none), and the newest model
    grown to a newer catalogue. publish(publication, parent_version) makes a version outside any round (the
    coordinator's Publisher: staged, recorded in SQL and the audit log, signed). Returns the manifests."""
    store = CatalogStore(registry.root)
    published = []
    if not registry.versions():
        if init_model is None or not store.versions():
            return published
        catalog = store.get()
        config = model_config_for(init_model, catalog)
        model = build_model(config, seed=seed, ad_features=model_features(catalog, config))
        published.append(publish({**model.publication(), "catalog": catalog.ref()}, 0))
        log.info("published initial model", extra={"version": published[-1]["version"], "catalog": catalog.version})
    newest = registry.manifest(0)
    have = newest.get("catalog", {}).get("version", 0)
    if store.versions() and have and have < store.latest_version():
        catalog = store.get()
        old = ModelConfig.from_dict(newest["model_config"])
        try:
            new = ModelConfig.from_dict(grown_config(newest["model_config"], catalog))
        except FeatureError as exc:
            raise CatalogSetupError(f"cannot grow model version {newest['version']}: {exc}") from None
        _, tensors = registry.load(newest["version"])
        grown = grow_tensors(tensors, old, new, seed=seed + newest["version"])
        publication = {"tensors": grown, "scopes": {t["name"]: t["scope"] for t in newest["tensors"]},
                       "model_config": new.to_dict(), "catalog": catalog.ref(), "extras": {"grown_from_catalog": have},
                       "statistics": [t["name"] for t in newest["tensors"] if t.get("statistic")]}
        published.append(publish(publication, newest["version"]))
        log.info("model grown with the catalogue", extra={"version": published[-1]["version"], "from_catalog": have,
                                                           "catalog": catalog.version, "ads": catalog.n_ads})
    return published
