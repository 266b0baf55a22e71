"""The registry's catalogue versions: `catalogs/c<NNNNNN>/` beside the model versions.

Each version is imported whole (copied into a staging folder, verified, renamed into place), so a
reader sees a complete, sha256-checked catalogue or none. Versions are append-only and must chain:
version N+1's parent is version N.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from fedads.catalog.catalog import MANIFEST, Catalog, CatalogError, catalog_files


class CatalogNotFound(CatalogError):
    pass


class CatalogStore:
    def __init__(self, registry_root: str | os.PathLike):
        self.root = Path(registry_root) / "catalogs"
        self._cache: dict[int, Catalog] = {}

    def _dir(self, version: int) -> Path:
        return self.root / f"c{version:06d}"

    def versions(self) -> list[int]:
        if not self.root.is_dir():
            return []
        return sorted(int(p.name[1:]) for p in self.root.glob("c*") if p.name[1:].isdigit()
                      and (p / MANIFEST).exists())

    def latest_version(self) -> int:
        v = self.versions()
        return v[-1] if v else 0

    def path(self, version: int) -> Path:
        version = version or self.latest_version()
        if not version or not (self._dir(version) / MANIFEST).exists():
            raise CatalogNotFound(f"catalogue version {version} is not in the registry "
                                  f"(newest is {self.latest_version() or 'none'})")
        return self._dir(version)

    def get(self, version: int = 0, sha256: str = "") -> Catalog:
        """A verified catalogue; with sha256, refused unless it is exactly that content."""
        path = self.path(version)
        version = int(path.name[1:])
        if version not in self._cache:
            self._cache[version] = Catalog.load(path)
        catalog = self._cache[version]
        if sha256 and catalog.sha256 != sha256:
            raise CatalogError(f"catalogue version {version} in the registry has sha256 {catalog.sha256[:12]}, "
                               f"not the {sha256[:12]} the model was trained with")
        return catalog

    def import_catalog(self, source: str | os.PathLike) -> tuple[Catalog, bool]:
        """Add a built catalogue folder; (catalogue, True) when new, (existing, False) when already held."""
        incoming = Catalog.load(source)
        v = incoming.version
        if v in self.versions():
            held = self.get(v)
            if held.sha256 != incoming.sha256:
                raise CatalogError(f"the registry already holds a different catalogue version {v} "
                                   f"(sha256 {held.sha256[:12]}); build the new one with --parent")
            return held, False
        latest = self.latest_version()
        if v != latest + 1:
            raise CatalogError(f"catalogue version {v} does not follow the registry's newest version {latest}")
        if latest and incoming.manifest.get("parent_sha256") != self.get(latest).sha256:
            raise CatalogError(f"catalogue version {v} was not built on the registry's version {latest}")
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            for name in (*catalog_files(incoming.manifest), MANIFEST):
                shutil.copyfile(Path(source) / name, staging / name)
            Catalog.load(staging)
            os.rename(staging, self._dir(v))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.get(v), True

    def file_path(self, version: int, name: str) -> Path:
        files = catalog_files(self.get(version).manifest)
        if name not in files:
            raise CatalogNotFound(f"catalogue version {version} has no file {name!r}; files are {', '.join(files)}")
        return self.path(version) / name
