"""The served model: newest published version (or a pinned one), checked by sha256, swapped without pauses.

A request takes one reference to a LoadedModel and uses it to the end, so a swap never
changes the model under a request in flight; the old version is freed when the last such
request finishes.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from safetensors.numpy import load as st_load

from admodels.models.ad_features import model_features
from admodels.models.fedads_model import FedAdsModel, ModelConfig
from fedads.catalog.catalog import Catalog, CatalogError
from fedads.runtime.catalog_store import CatalogStore
from fedads.runtime.registry import ModelRegistry, RegistryError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    version: int
    model: FedAdsModel
    config: ModelConfig
    sha256: str
    catalog: Catalog
    ad_index: dict  # ad id string → the model's catalogue index


def load_version(registry: ModelRegistry, version: int) -> LoadedModel:
    """A published version with exactly the catalogue it names (RegistryError if either is missing or altered)."""
    manifest, data = registry.read_bytes(version)  # raises if the sha256 does not match
    ref = manifest.get("catalog") or {}
    if not ref.get("version"):
        raise RegistryError(f"model version {manifest['version']} names no catalogue; refusing to serve it")
    try:
        catalog = CatalogStore(registry.root).get(ref["version"], ref["sha256"])
    except CatalogError as exc:
        raise RegistryError(f"model version {manifest['version']}: {exc}") from exc
    config = ModelConfig.from_dict(manifest["model_config"])
    if catalog.n_ads != config.n_items:
        raise RegistryError(f"model version {manifest['version']} has {config.n_items} ad rows but its catalogue "
                            f"version {catalog.version} holds {catalog.n_ads} ads")
    try:
        model = FedAdsModel(config, model_features(catalog, config))
    except ValueError as exc:
        raise RegistryError(f"model version {manifest['version']}: {exc}") from exc
    model.load_shared_state(st_load(data))
    model.eval()
    return LoadedModel(manifest["version"], model, config, manifest["sha256"], catalog, catalog.lookup())


class ModelHolder:
    def __init__(self, registry: ModelRegistry, pinned_version: int = 0, keep_versions: int = 3):
        self.registry = registry
        self.pinned_version = pinned_version
        self.keep_versions = keep_versions
        self._lock = threading.Lock()
        self._by_version: dict[int, LoadedModel] = {}
        self.swaps = 0
        self.current = load_version(registry, pinned_version)
        self._by_version[self.current.version] = self.current

    def get(self, version: int = 0) -> LoadedModel:
        """The served model, or a specific version (loaded on demand; VersionNotFound if absent)."""
        if version == 0 or version == self.current.version:
            return self.current
        with self._lock:
            if version not in self._by_version:
                self._remember(load_version(self.registry, version))
            return self._by_version[version]

    def _remember(self, loaded: LoadedModel) -> None:
        self._by_version[loaded.version] = loaded
        for v in sorted(self._by_version)[:-self.keep_versions]:
            if v != self.current.version:
                del self._by_version[v]

    def refresh(self) -> bool:
        """Swap to the newest published version if there is one; True when swapped."""
        if self.pinned_version:
            return False
        newest = self.registry.latest_version()
        if newest <= self.current.version:
            return False
        try:
            loaded = load_version(self.registry, newest)
        except Exception:  # noqa: BLE001 - a bad new version must not take the served one down
            log.exception("could not load new model version; keeping the current one", extra={"version": newest})
            return False
        with self._lock:
            self._remember(loaded)
            self.current = loaded
            self.swaps += 1
        log.info("model swapped", extra={"version": loaded.version, "sha256": loaded.sha256})
        return True

    def watch(self, interval_s: float, stop: threading.Event) -> threading.Thread:
        def loop():
            while not stop.wait(interval_s):
                self.refresh()
        thread = threading.Thread(target=loop, daemon=True, name="model-watch")
        thread.start()
        return thread
