"""The catalogues a site holds: fetched from the federation's registry into its state folder, verified.

A model names the catalogue it was trained with (version and sha256); the site trains or evaluates it
only with exactly that catalogue, so an ad id always means the same table row for the model and the site.
"""
from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Callable

from fedads.catalog.catalog import Catalog, CatalogError

Fetch = Callable[[int, Path], Catalog]  # (version, new folder) → the downloaded, verified catalogue


class SiteCatalogs:
    def __init__(self, root: Path, fetch: Fetch | None = None):
        self.root = Path(root)
        self.fetch = fetch
        self._held: dict[int, Catalog] = {}

    def _folder(self, version: int) -> Path:
        return self.root / f"c{version:06d}"

    def get(self, version: int, sha256: str = "") -> Catalog:
        """Catalogue `version` (0: the registry's newest), refused unless its content hash is sha256."""
        if version and version in self._held:
            catalog = self._held[version]
        elif version and (self._folder(version) / "manifest.json").exists():
            catalog = Catalog.load(self._folder(version))
        else:
            catalog = self._download(version)
        if sha256 and catalog.sha256 != sha256:
            raise CatalogError(f"catalogue version {catalog.version} has sha256 {catalog.sha256[:12]}, not the "
                               f"{sha256[:12]} the model names; refusing the model")
        self._held[catalog.version] = catalog
        return catalog

    def _download(self, version: int) -> Catalog:
        if self.fetch is None:
            raise CatalogError(f"catalogue version {version or 'newest'} is not held here and there is no registry "
                               "to fetch it from")
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".staging-{uuid.uuid4().hex}"
        try:
            catalog = self.fetch(version, staging)
            target = self._folder(catalog.version)
            if target.exists():
                shutil.rmtree(staging)
            else:
                staging.rename(target)
            return Catalog.load(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
