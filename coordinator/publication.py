"""Publication is the commit of a completed round (DESIGN §9).

The aggregator stages a version; `commit` records it in one SQL transaction (the model row, the round's
result version, the audit log's `model_published` record) and only then renames the staging into the
registry, where serving, sites and the next round can see it. `recover` runs at start-up and resolves
every state a kill -9 can leave between the two: a committed staging is rolled forward, every other
staging and every partial write is removed, and a registry version no commit accounts for is quarantined.
"""
from __future__ import annotations

import json
import logging
import os
import time
import uuid

from sqlalchemy import select

from coordinator.schema import ModelVersion, Round
from coordinator.store import StoreError
from fedads.runtime import staging
from fedads.runtime.pause_point import pause
from fedads.runtime.registry import ModelRegistry

log = logging.getLogger(__name__)

QUARANTINE = ".quarantine"


class Publisher:
    def __init__(self, store, registry: ModelRegistry, audit):
        self.store, self.registry, self.audit = store, registry, audit

    def commit(self, round_id: int, manifest: dict) -> dict:
        """After `record` the round's version exists (a restart rolls it forward); before, nothing of it does."""
        self.record(round_id, manifest)
        pause("FEDADS_PAUSE_AFTER_COMMIT", str(manifest["version"]))
        return staging.commit(self.registry, round_id, manifest["sha256"])

    def record(self, round_id: int, manifest: dict) -> None:
        """The durable step: model row, round state and audit record in one SQL transaction."""
        sites = manifest["extras"].get("sites", [])
        with self.audit.transaction() as (s, append):
            rnd = s.get(Round, round_id)
            if rnd is None or rnd.state != "AGGREGATING":
                raise StoreError("precondition", f"round {round_id} is {rnd.state if rnd else 'missing'}; "
                                                 "only an aggregating round can publish")
            if s.get(ModelVersion, manifest["version"]) is not None:
                raise StoreError("exists", f"version {manifest['version']} is already published")
            s.add(ModelVersion(version=manifest["version"], parent_version=manifest["parent_version"],
                               round_id=round_id, sha256=manifest["sha256"], size_bytes=manifest["size_bytes"],
                               created_at=time.time(), metrics_json=json.dumps(manifest.get("metrics", {}))))
            rnd.state, rnd.result_version = "EVALUATING", manifest["version"]
            append("model_published", round_id, version=manifest["version"], sha256=manifest["sha256"],
                   parent_version=manifest["parent_version"], sites=sites,
                   secure_aggregation=manifest["extras"].get("secure_aggregation", False))

    def discard(self, round_id: int) -> None:
        if staging.discard(self.registry, round_id):
            log.info("staged version discarded", extra={"round_id": round_id})

    def committed(self) -> dict[int, ModelVersion]:
        with self.store.session() as s:
            return {m.round_id: m for m in s.scalars(select(ModelVersion).where(ModelVersion.round_id > 0))}

    def recover(self) -> dict:
        """Resolve what a killed coordinator or aggregator left in the registry; returns what it did."""
        report = {"partial_writes_removed": staging.remove_partial_writes(self.registry),
                  "rolled_forward": [], "discarded": [], "quarantined": []}
        committed = self.committed()
        known = {m.version: m.sha256 for m in committed.values()}
        for version in self.registry.versions():
            try:
                manifest = self.registry.manifest(version)
                int(manifest["round_id"]), str(manifest["sha256"])
            except (ValueError, KeyError, TypeError, OSError) as exc:
                why = f"manifest unreadable ({type(exc).__name__}: {str(exc)[:120]})"
                report["quarantined"].append(self.quarantine(version, why))
                continue
            if manifest.get("round_id", 0) == 0:
                self.store.record_model(manifest)  # the initial model, published by the coordinator itself
            elif known.get(version) != manifest.get("sha256"):
                report["quarantined"].append(self.quarantine(version, "no committed round publishes it"))
        # After the scan: a version written by hand may hold the number a committed staging needs.
        for rid in staging.staged_rounds(self.registry):
            mv = committed.get(rid)
            if mv is not None:
                staging.commit(self.registry, rid, mv.sha256)
                report["rolled_forward"].append(mv.version)
            else:
                staging.discard(self.registry, rid)
                report["discarded"].append(rid)
        for key, value in report.items():
            if value:
                log.warning(f"registry recovery: {key.replace('_', ' ')}", extra={"items": value})
        return report

    def quarantine(self, version: int, reason: str) -> str:
        """Move a version out of every reader's sight, keeping its files for a person to inspect."""
        folder = self.registry.root / QUARANTINE
        folder.mkdir(exist_ok=True)
        name = f"v{version:06d}-{uuid.uuid4().hex[:8]}"
        os.rename(self.registry.root / f"v{version:06d}", folder / name)
        (folder / f"{name}.reason").write_text(reason + "\n")
        log.error("model version quarantined", extra={"version": version, "reason": reason,
                                                      "moved_to": f"{QUARANTINE}/{name}"})
        return f"v{version:06d}: {reason}"
