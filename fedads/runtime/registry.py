"""The model registry: published global models as safetensors + JSON manifest, written atomically.

A version is a folder `v<NNNNNN>/` holding `model.safetensors` and `manifest.json`. It is
assembled in a staging folder and renamed into place, so a reader sees a whole version or none;
every load checks the weights against the manifest's sha256.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from fedads.runtime.hashing import sha256_hex
from fedads.runtime.layout import PRIVATE, parse_scope

WEIGHTS = "model.safetensors"
MANIFEST = "manifest.json"


class RegistryError(RuntimeError):
    pass


def staged_dir(root: Path, round_id: int) -> Path:
    """Where a round's version waits for its commit: a dot folder, which versions() never lists."""
    return Path(root) / f".staged-r{int(round_id):08d}"


class VersionNotFound(RegistryError):
    pass


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


class ModelRegistry:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _dir(self, version: int) -> Path:
        return self.root / f"v{version:06d}"

    def versions(self) -> list[int]:
        out = []
        for p in self.root.glob("v*"):
            if p.is_dir() and p.name[1:].isdigit() and (p / MANIFEST).exists():
                out.append(int(p.name[1:]))
        return sorted(out)

    def latest_version(self) -> int:
        versions = self.versions()
        return versions[-1] if versions else 0

    def resolve(self, version: int) -> int:
        if version == 0:
            version = self.latest_version()
            if version == 0:
                raise VersionNotFound("no model has been published yet")
        if not (self._dir(version) / MANIFEST).exists():
            raise VersionNotFound(f"model version {version} does not exist (newest is {self.latest_version()})")
        return version

    def manifest(self, version: int = 0) -> dict:
        version = self.resolve(version)
        return json.loads((self._dir(version) / MANIFEST).read_text())

    def read_bytes(self, version: int = 0) -> tuple[dict, bytes]:
        manifest = self.manifest(version)
        data = (self._dir(manifest["version"]) / WEIGHTS).read_bytes()
        if sha256_hex(data) != manifest["sha256"]:
            raise RegistryError(f"model version {manifest['version']} failed its sha256 check; refusing to load it")
        return manifest, data

    def load(self, version: int = 0) -> tuple[dict, dict[str, np.ndarray]]:
        manifest, data = self.read_bytes(version)
        return manifest, st_load(data)

    def parent_tensors(self, manifest: Mapping) -> dict[str, np.ndarray] | None:
        """The weights of the version `manifest` was derived from (server momentum reads the last global
        step off it), or None for a first model or a parent that no longer matches its tensors."""
        if manifest.get("parent_version", 0) <= 0:
            return None
        try:
            _, tensors = self.load(manifest["parent_version"])
        except VersionNotFound:
            return None
        shapes = {t["name"]: tuple(t["shape"]) for t in manifest["tensors"]}
        if {k: v.shape for k, v in tensors.items()} != shapes:
            return None
        return tensors

    def publish(self, tensors: Mapping[str, np.ndarray], scopes: Mapping[str, str], *, parent_version: int,
                round_id: int, model_config: Mapping, metrics: Mapping | None = None,
                extras: Mapping | None = None, statistics: Iterable[str] = (), catalog: Mapping | None = None,
                staged: bool = False) -> dict:
        """statistics: tensors that hold the sites' weighted mean of a value rather than trained weights
        (the manifest marks them, and UpdateLayout.apply never takes a server step on them). catalog: the
        {version, sha256} of the catalogue the model's tables are sized from.
        staged: write the version where no reader looks (fedads.runtime.staging); it becomes visible only
        when the coordinator commits its round."""
        if set(tensors) != set(scopes):
            raise RegistryError("every published tensor needs exactly one scope")
        statistics = set(statistics)
        if statistics - set(tensors):
            raise RegistryError(f"statistics {sorted(statistics - set(tensors))} are not published tensors")
        for name, scope in scopes.items():
            if parse_scope(scope) == PRIVATE:
                raise RegistryError(f"refusing to publish private tensor {name!r}")
            if not np.all(np.isfinite(tensors[name])):
                raise RegistryError(f"refusing to publish tensor {name!r}: it holds NaN or Inf")
        data = st_save({k: np.ascontiguousarray(v) for k, v in tensors.items()})
        specs = [{"name": k, "shape": list(tensors[k].shape), "dtype": str(tensors[k].dtype), "scope": scopes[k],
                  "statistic": k in statistics} for k in sorted(tensors)]
        staging = self.root / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            _fsync_write(staging / WEIGHTS, data)
            while True:
                version = self.latest_version() + 1
                manifest = {
                    "version": version, "parent_version": int(parent_version), "round_id": int(round_id),
                    "sha256": sha256_hex(data), "size_bytes": len(data), "model_config": dict(model_config),
                    "metrics": dict(metrics or {}), "extras": dict(extras or {}),
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "tensors": specs,
                    "catalog": {"version": int(catalog["version"]), "sha256": str(catalog["sha256"])} if catalog
                    else {"version": 0, "sha256": ""},
                }
                _fsync_write(staging / MANIFEST, json.dumps(manifest, indent=1).encode())
                try:
                    # rename() of a folder onto a missing name is atomic; if another publisher took
                    # the number first the rename fails and we try the next one.
                    target = staged_dir(self.root, round_id) if staged else self._dir(version)
                    os.rename(staging, target)
                    return manifest
                except OSError:
                    if staged or not self._dir(version).exists():
                        raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def publish_successor(self, base: Mapping, tensors: Mapping[str, np.ndarray], *, round_id: int,
                          extras: Mapping | None = None, staged: bool = False) -> dict:
        """Publish tensors as the next version of the model `base` describes: same scopes, statistics and
        model config, with base as the parent."""
        return self.publish(tensors, {t["name"]: t["scope"] for t in base["tensors"]},
                            parent_version=base["version"], round_id=round_id, model_config=base["model_config"],
                            extras=extras, statistics=(t["name"] for t in base["tensors"] if t.get("statistic")),
                            catalog=base.get("catalog"), staged=staged)

    def set_metrics(self, version: int, metrics: Mapping) -> dict:
        """Attach evaluation metrics to a version (weights untouched; manifest replaced atomically)."""
        manifest = self.manifest(version)
        manifest["metrics"] = dict(metrics)
        tmp = self._dir(version) / f".{MANIFEST}.{uuid.uuid4().hex}"
        _fsync_write(tmp, json.dumps(manifest, indent=1).encode())
        os.replace(tmp, self._dir(version) / MANIFEST)
        return manifest


def manifest_to_proto(manifest: Mapping):
    from fedads.v1 import common_pb2

    return common_pb2.ModelManifest(
        version=manifest["version"], parent_version=manifest["parent_version"], round_id=manifest["round_id"],
        sha256=manifest["sha256"], size_bytes=manifest["size_bytes"],
        model_config_json=json.dumps(manifest["model_config"]), metrics_json=json.dumps(manifest.get("metrics", {})),
        created_at=manifest["created_at"],
        tensors=[common_pb2.TensorSpec(name=t["name"], shape=t["shape"], dtype=t["dtype"], scope=t["scope"],
                                       statistic=bool(t.get("statistic", False)))
                 for t in manifest["tensors"]],
        catalog_version=manifest.get("catalog", {}).get("version", 0),
        catalog_sha256=manifest.get("catalog", {}).get("sha256", ""),
        audit_seq=int((manifest.get("audit_head") or {}).get("seq", 0)),
        audit_hash=(manifest.get("audit_head") or {}).get("hash", ""), signature=manifest.get("signature", ""),
    )


def manifest_from_proto(msg) -> dict:
    return {
        "version": msg.version, "parent_version": msg.parent_version, "round_id": msg.round_id,
        "sha256": msg.sha256, "size_bytes": msg.size_bytes, "model_config": json.loads(msg.model_config_json or "{}"),
        "metrics": json.loads(msg.metrics_json or "{}"), "created_at": msg.created_at,
        "tensors": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "scope": t.scope,
                     "statistic": t.statistic} for t in msg.tensors],
        "catalog": {"version": msg.catalog_version, "sha256": msg.catalog_sha256},
        **({"audit_head": {"seq": msg.audit_seq, "hash": msg.audit_hash}, "signature": msg.signature}
           if msg.signature else {}),
    }
