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
from fedads.runtime.manifest_signing import ModelTrust
from fedads.runtime.registry import ModelRegistry, RegistryError
from serving.newer_ads import extend_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    version: int
    model: FedAdsModel
    config: ModelConfig
    sha256: str
    catalog: Catalog  # the catalogue the model was trained with (its manifest names it)
    ad_index: dict  # ad id string → index, over ad_catalog
    ad_catalog: Catalog | None = None  # the catalogue whose ads it scores: a newer one for a feature model

    @property
    def ad_catalog_version(self) -> int:
        return (self.ad_catalog or self.catalog).version


def load_version(registry: ModelRegistry, version: int, trust: ModelTrust | None = None) -> LoadedModel:
    """A published version with exactly the catalogue it names (RegistryError if either is missing or altered),
    and, with trust, signed by the coordinator under a head no older than the newest seen."""
    manifest, data = registry.read_bytes(version)  # raises if the sha256 does not match
    if trust is not None:
        trust.check(manifest)  # raises for an unsigned or forged manifest, or one from an older log
    ref = manifest.get("catalog") or {}
    if not ref.get("version"):
        raise RegistryError(f"model version {manifest['version']} names no catalogue; refusing to serve it")
    try:
        store = CatalogStore(registry.root)
        catalog = store.get(ref["version"], ref["sha256"])
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
    ad_catalog = catalog
    newest = store.latest_version()
    if model.reads_catalogue and newest > catalog.version:
        # Ads added since the model's catalogue are scored through their features and text (serving.newer_ads).
        try:
            ad_catalog = store.get(newest)
            model = extend_model(model, catalog, ad_catalog)
        except (CatalogError, ValueError) as exc:
            raise RegistryError(f"model version {manifest['version']} on catalogue version {newest}: {exc}") from exc
    loaded = LoadedModel(manifest["version"], model, config, manifest["sha256"], catalog, ad_catalog.lookup(),
                         ad_catalog)
    if trust is not None:
        trust.accept(manifest)
    return loaded


class NoIntactVersion(RuntimeError):
    pass


class ModelHolder:
    def __init__(self, registry: ModelRegistry, pinned_version: int = 0, keep_versions: int = 3,
                 trust: ModelTrust | None = None):
        self.registry = registry
        self.pinned_version = pinned_version
        self.keep_versions = keep_versions
        self.trust = trust
        self._lock = threading.Lock()
        self._by_version: dict[int, LoadedModel] = {}
        self.swaps = 0
        self.listeners: list = []  # called with the holder after every swap (metrics: serving/request_metrics.py)
        # version → (files' fingerprint, reason): a bad version is reported once, and again only if its files change.
        self.bad: dict[int, tuple[tuple, str]] = {}
        if pinned_version:
            self.current = load_version(registry, pinned_version, trust)
        else:
            # Degrade, don't die: start on the newest version that loads, naming the ones that do not.
            self.current = self._newest_intact(registry.versions(), floor=0)
            if self.current is None:
                reasons = "; ".join(f"v{v}: {r}" for v, (_, r) in sorted(self.bad.items()))
                raise NoIntactVersion(f"no model version in {registry.root} can be served"
                                      + (f" ({reasons})" if reasons else ": none is published"))
        self._by_version[self.current.version] = self.current

    def _fingerprint(self, version: int) -> tuple:
        folder = self.registry.root / f"v{version:06d}"
        try:
            return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir()))
        except OSError:
            return ()

    def _newest_intact(self, versions: list[int], floor: int) -> LoadedModel | None:
        for version in sorted(versions, reverse=True):
            if version <= floor:
                return None
            fingerprint = self._fingerprint(version)
            if version in self.bad and self.bad[version][0] == fingerprint:
                continue
            try:
                return load_version(self.registry, version, self.trust)
            except Exception as exc:  # noqa: BLE001 - one bad version must not take serving down
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                self.bad[version] = (fingerprint, reason)
                log.error("model version refused; serving an older one", extra={"version": version,
                                                                                 "reason": reason})
        return None

    def get(self, version: int = 0) -> LoadedModel:
        """The served model, or a specific version (loaded on demand; VersionNotFound if absent)."""
        if version == 0 or version == self.current.version:
            return self.current
        with self._lock:
            if version not in self._by_version:
                self._remember(load_version(self.registry, version, self.trust))
            return self._by_version[version]

    def _remember(self, loaded: LoadedModel) -> None:
        self._by_version[loaded.version] = loaded
        for v in sorted(self._by_version)[:-self.keep_versions]:
            if v != self.current.version:
                del self._by_version[v]

    def refresh(self) -> bool:
        """Swap to the newest intact published version if it is newer, or to the served version extended to a
        newer catalogue (a feature model scores the new ads through their features); True when swapped."""
        loaded = None
        if not self.pinned_version:
            loaded = self._newest_intact(self.registry.versions(), floor=self.current.version)
        if loaded is None and self.current.model.reads_catalogue and \
                CatalogStore(self.registry.root).latest_version() > self.current.ad_catalog_version:
            try:
                loaded = load_version(self.registry, self.current.version, self.trust)
            except Exception as exc:  # noqa: BLE001 - keep serving the catalogue it has
                log.error("newer catalogue not taken up", extra={"version": self.current.version,
                                                                  "reason": str(exc)[:300]})
        if loaded is None:
            return False
        with self._lock:
            self._remember(loaded)
            self.current = loaded
            self.swaps += 1
        log.info("model swapped", extra={"version": loaded.version, "sha256": loaded.sha256})
        for listener in self.listeners:
            listener(self)
        return True

    def watch(self, interval_s: float, stop: threading.Event) -> threading.Thread:
        def loop():
            while not stop.wait(interval_s):
                self.refresh()
        thread = threading.Thread(target=loop, daemon=True, name="model-watch")
        thread.start()
        return thread
