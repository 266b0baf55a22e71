"""gRPC servicer that serves the model registry (manifests and chunked downloads)."""
from __future__ import annotations

import grpc

import json
from pathlib import Path

from fedads.catalog.catalog import Catalog, CatalogError, catalog_files
from fedads.runtime.catalog_store import CatalogNotFound, CatalogStore
from fedads.runtime.chunks import iter_chunks
from fedads.runtime.registry import ModelRegistry, RegistryError, VersionNotFound, manifest_to_proto
from fedads.runtime.server import abort
from fedads.v1 import common_pb2, registry_pb2, registry_pb2_grpc


def quarantined(registry: ModelRegistry) -> list[str]:
    """What the coordinator quarantined (fedads coordinator.publication), newest last, as "v<N>: reason"."""
    folder = registry.root / ".quarantine"
    if not folder.is_dir():
        return []
    out = []
    for reason in sorted(folder.glob("*.reason"), key=lambda p: p.stat().st_mtime):
        out.append(f"{reason.name.split('-')[0]}: {reason.read_text().strip()[:300]}")
    return out


class ModelRegistryServicer(registry_pb2_grpc.ModelRegistryServiceServicer):
    def __init__(self, registry: ModelRegistry, catalogs: CatalogStore | None = None):
        self.registry = registry
        self.catalogs = catalogs or CatalogStore(registry.root)

    def _guard(self, context, fn):
        try:
            return fn()
        except (VersionNotFound, CatalogNotFound) as exc:
            abort(context, grpc.StatusCode.NOT_FOUND, str(exc))
        except (RegistryError, CatalogError) as exc:
            abort(context, grpc.StatusCode.DATA_LOSS, str(exc))
        except FileNotFoundError as exc:  # a manifest whose weights are gone
            abort(context, grpc.StatusCode.DATA_LOSS, f"model files missing in the registry: {exc.filename}")
        except (ValueError, KeyError, TypeError) as exc:  # a manifest that no longer parses (JSONDecodeError)
            abort(context, grpc.StatusCode.DATA_LOSS, f"model manifest unreadable: {type(exc).__name__}: "
                                                      f"{str(exc).splitlines()[0][:200]}")
        except OSError as exc:
            abort(context, grpc.StatusCode.FAILED_PRECONDITION, f"registry cannot be read: {exc.strerror}")

    def GetManifest(self, request, context):
        return self._guard(context, lambda: manifest_to_proto(self.registry.manifest(request.version)))

    def DownloadModel(self, request, context):
        _, data = self._guard(context, lambda: self.registry.read_bytes(request.version))
        for offset, piece in iter_chunks(data, request.chunk_bytes):
            yield common_pb2.Chunk(data=piece, offset=offset)

    def ListModels(self, request, context):
        models = []
        for v in self.registry.versions():
            try:
                models.append(manifest_to_proto(self.registry.manifest(v)))
            except (ValueError, KeyError, TypeError, OSError):
                continue  # unreadable: quarantined and named by the coordinator's next start
        return registry_pb2.ListModelsResponse(models=models, quarantined=quarantined(self.registry))


    def GetCatalog(self, request, context):
        catalog = self._guard(context, lambda: self.catalogs.get(request.version))
        return registry_pb2.CatalogManifest(version=catalog.version, sha256=catalog.sha256,
                                            manifest_json=json.dumps(catalog.manifest))

    def DownloadCatalogFile(self, request, context):
        path = self._guard(context, lambda: self.catalogs.file_path(request.version, request.file))
        data = path.read_bytes()
        for offset, piece in iter_chunks(data, request.chunk_bytes):
            yield common_pb2.Chunk(data=piece, offset=offset)


def download_catalog(stub: registry_pb2_grpc.ModelRegistryServiceStub, version: int, dest: Path,
                     metadata=None) -> Catalog:
    """Fetch a catalogue version into dest (a new folder), checking every file's sha256 (Catalog.load)."""
    msg = stub.GetCatalog(registry_pb2.GetCatalogRequest(version=version), metadata=metadata)
    manifest = json.loads(msg.manifest_json)
    dest.mkdir(parents=True, exist_ok=True)
    for name in catalog_files(manifest):
        parts = [c.data for c in stub.DownloadCatalogFile(
            registry_pb2.DownloadCatalogFileRequest(version=msg.version, file=name), metadata=metadata)]
        (dest / name).write_bytes(b"".join(parts))
    (dest / "manifest.json").write_text(json.dumps(manifest))
    catalog = Catalog.load(dest)
    if catalog.sha256 != msg.sha256:
        raise CatalogError(f"downloaded catalogue version {msg.version} does not match its sha256")
    return catalog


def download_model(stub: registry_pb2_grpc.ModelRegistryServiceStub, version: int = 0, metadata=None):
    """Fetch manifest and weights of a version and check the sha256; returns (manifest, bytes)."""
    from fedads.runtime.hashing import sha256_hex
    from fedads.runtime.registry import manifest_from_proto

    manifest = manifest_from_proto(stub.GetManifest(registry_pb2.GetManifestRequest(version=version), metadata=metadata))
    parts = [c.data for c in stub.DownloadModel(registry_pb2.DownloadModelRequest(version=manifest["version"]),
                                                metadata=metadata)]
    data = b"".join(parts)
    if sha256_hex(data) != manifest["sha256"]:
        raise RegistryError(f"downloaded model version {manifest['version']} does not match its sha256")
    return manifest, data
