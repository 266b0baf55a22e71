"""Staged versions: a round's model written by the aggregator, invisible until the coordinator commits it.

The aggregator stages a whole version (weights and manifest) under `.staged-r<round>/`; readers list only
`v<NNNNNN>/`. The coordinator's commit is its SQL transaction (DESIGN §9); after it, `commit` renames the
staged folder into place. A restarted coordinator rolls a committed staging forward and removes every other,
so a version exists in the registry exactly when its round's commit exists in SQL.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Mapping

from fedads.runtime.hashing import sha256_hex
from fedads.runtime.registry import MANIFEST, WEIGHTS, ModelRegistry, RegistryError, VersionNotFound, staged_dir


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def staged_manifest(registry: ModelRegistry, round_id: int) -> dict:
    path = staged_dir(registry.root, round_id) / MANIFEST
    if not path.exists():
        raise VersionNotFound(f"round {round_id} has no staged model version")
    return json.loads(path.read_text())


def staged_rounds(registry: ModelRegistry) -> list[int]:
    out = []
    for p in registry.root.glob(".staged-r*"):
        tail = p.name[len(".staged-r"):]
        if p.is_dir() and tail.isdigit():
            out.append(int(tail))
    return sorted(out)


def commit(registry: ModelRegistry, round_id: int, sha256: str, manifest_fields: Mapping | None = None) -> dict:
    """Make a round's staged version visible; idempotent, so a restart may repeat it."""
    src = staged_dir(registry.root, round_id)
    if not src.exists():
        for v in reversed(registry.versions()):
            m = registry.manifest(v)
            if m.get("round_id") == round_id and m.get("sha256") == sha256:
                return m  # committed before a crash: nothing left to do
        raise VersionNotFound(f"round {round_id} has neither a staged nor a published version")
    manifest = json.loads((src / MANIFEST).read_text())
    if manifest["sha256"] != sha256 or sha256_hex((src / WEIGHTS).read_bytes()) != sha256:
        raise RegistryError(f"staged version of round {round_id} does not match sha256 {sha256[:12]}…; not committed")
    if manifest_fields:
        manifest.update(manifest_fields)
        tmp = src / f".{MANIFEST}.{uuid.uuid4().hex}"
        with open(tmp, "wb") as fh:
            fh.write(json.dumps(manifest, indent=1).encode())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, src / MANIFEST)
    target = registry.root / f"v{manifest['version']:06d}"
    if target.exists():
        raise RegistryError(f"version {manifest['version']} already exists; round {round_id} cannot take it")
    os.rename(src, target)
    _fsync_dir(registry.root)
    return manifest


def discard(registry: ModelRegistry, round_id: int) -> bool:
    src = staged_dir(registry.root, round_id)
    if not src.exists():
        return False
    # Renamed away first, so a half-deleted staging is never mistaken for a whole one.
    trash = registry.root / f".staging-discard-{uuid.uuid4().hex}"
    os.rename(src, trash)
    shutil.rmtree(trash, ignore_errors=True)
    return True


def remove_partial_writes(registry: ModelRegistry) -> list[str]:
    """`.staging-*` folders are writes a killed process never finished: never readable, safe to delete
    when no publisher runs (coordinator and aggregator call this at start-up)."""
    removed = []
    for p in registry.root.glob(".staging-*"):
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p.name)
    return sorted(removed)


def rewrite_manifest(registry: ModelRegistry, version: int, fields: Mapping) -> dict:
    """Add fields to a published version's manifest (weights untouched; the manifest replaced atomically)."""
    folder = registry.root / f"v{version:06d}"
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest.update(fields)
    tmp = folder / f".{MANIFEST}.{uuid.uuid4().hex}"
    with open(tmp, "wb") as fh:
        fh.write(json.dumps(manifest, indent=1).encode())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / MANIFEST)
    return manifest
