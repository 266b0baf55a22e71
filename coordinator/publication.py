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

from sqlalchemy import func, select

from coordinator.schema import AuditRecord, ModelVersion, Round
from coordinator.store import StoreError
from fedads.runtime import manifest_signing, staging
from fedads.runtime.pause_point import pause
from fedads.runtime.registry import ModelRegistry

log = logging.getLogger(__name__)

QUARANTINE = ".quarantine"


class AuditGap(Exception):
    """The database's audit log lacks or differs from a record a signed manifest names."""


def _check_base(parent: ModelVersion | None, manifest: dict) -> None:
    """A round's version is signed only if it was built on the version this coordinator published."""
    base = manifest["parent_version"]
    if parent is None:
        raise StoreError("precondition", f"the round's base version {base} was never published by this coordinator")
    used = manifest["extras"].get("base_sha256")
    if used != parent.sha256:
        raise StoreError("precondition", f"the aggregator built on a version {base} with sha256 {str(used)[:12]}…, "
                                         f"not the published {parent.sha256[:12]}… (the registry was altered); "
                                         "nothing is published")


class Publisher:
    def __init__(self, store, registry: ModelRegistry, audit):
        self.store, self.registry, self.audit = store, registry, audit

    def commit(self, round_id: int, manifest: dict) -> dict:
        """After `record` the round's version exists (a restart rolls it forward); before, nothing of it does."""
        head = self.record(round_id, manifest)
        pause("FEDADS_PAUSE_AFTER_COMMIT", str(manifest["version"]))
        return staging.commit(self.registry, round_id, manifest["sha256"], self._signed(manifest, head))

    def publish_initial(self, publication: dict, parent_version: int = 0) -> dict:
        """A version no round made (the first model, or the newest grown to a new catalogue): staged,
        recorded and signed like any round's version."""
        manifest = self.registry.publish(**publication, parent_version=parent_version, round_id=0, staged=True)
        head = self.record(0, manifest)
        return staging.commit(self.registry, 0, manifest["sha256"], self._signed(manifest, head))

    def _signed(self, manifest: dict, head: dict) -> dict:
        return manifest_signing.signed_fields(manifest, self.audit.key, head["seq"], head["hash"])

    def record(self, round_id: int, manifest: dict) -> dict:
        """The durable step: model row, round state and audit record in one SQL transaction; returns the
        audit record's (seq, hash), the head the manifest will be signed under."""
        sites = manifest["extras"].get("sites", [])
        with self.audit.transaction() as (s, append):
            rnd = s.get(Round, round_id) if round_id else None
            if round_id and (rnd is None or rnd.state != "AGGREGATING"):
                raise StoreError("precondition", f"round {round_id} is {rnd.state if rnd else 'missing'}; "
                                                 "only an aggregating round can publish")
            if s.get(ModelVersion, manifest["version"]) is not None:
                raise StoreError("exists", f"version {manifest['version']} is already published")
            if round_id:
                _check_base(s.get(ModelVersion, manifest["parent_version"]), manifest)
            s.add(ModelVersion(version=manifest["version"], parent_version=manifest["parent_version"],
                               round_id=round_id, sha256=manifest["sha256"], size_bytes=manifest["size_bytes"],
                               created_at=time.time(), metrics_json=json.dumps(manifest.get("metrics", {}))))
            if rnd is not None:
                rnd.state, rnd.result_version = "EVALUATING", manifest["version"]
            rec = append("model_published", round_id, version=manifest["version"], sha256=manifest["sha256"],
                         parent_version=manifest["parent_version"], sites=sites,
                         secure_aggregation=manifest["extras"].get("secure_aggregation", False))
        return {"seq": rec["body"]["index"], "hash": rec["hash"]}

    def _published_head(self, version: int) -> dict | None:
        """The (seq, hash) of the audit record that published or adopted `version`."""
        with self.store.session() as s:
            for rec in s.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc())):
                body = json.loads(rec.body_json)
                if body["kind"] in ("model_published", "model_adopted") and body["payload"].get("version") == version:
                    return {"seq": rec.seq, "hash": rec.hash}
        return None

    def adopt(self, manifest: dict) -> dict:
        """Sign a committed version published before manifests were signed, under a `model_adopted` record."""
        with self.audit.transaction() as (_s, append):
            rec = append("model_adopted", manifest["round_id"], version=manifest["version"], sha256=manifest["sha256"])
        head = {"seq": rec["body"]["index"], "hash": rec["hash"]}
        return staging.rewrite_manifest(self.registry, manifest["version"], self._signed(manifest, head))

    def check_head(self) -> None:
        """Refuse to go on from a log whose newest records were deleted: every signed manifest names a
        record the database must still hold, with the same hash."""
        pub = self.audit.key.public_key()
        newest = None
        for version in self.registry.versions():
            try:
                head = manifest_signing.verify(self.registry.manifest(version), pub)
            except (manifest_signing.ManifestRejected, ValueError, OSError):
                continue
            if newest is None or head["seq"] > newest[1]["seq"]:
                newest = (version, head)
        if newest is None:
            return
        version, head = newest
        with self.store.session() as s:
            rec = s.get(AuditRecord, head["seq"])
            count = s.scalar(select(func.count()).select_from(AuditRecord)) or 0
        if rec is None:
            raise AuditGap(f"audit log truncated: record {min(count, head['seq'])} is missing (the database holds "
                           f"{count} records; model v{version} is signed under record {head['seq']})")
        if rec.hash != head["hash"]:
            raise AuditGap(f"audit log rewritten: record {head['seq']} differs from the one model v{version} "
                           "is signed under")

    def discard(self, round_id: int) -> None:
        if staging.discard(self.registry, round_id):
            log.info("staged version discarded", extra={"round_id": round_id})

    def committed(self) -> dict[int, ModelVersion]:
        with self.store.session() as s:
            return {m.round_id: m for m in s.scalars(select(ModelVersion).order_by(ModelVersion.version))}

    def recover(self) -> dict:
        """Resolve what a killed coordinator or aggregator left in the registry; returns what it did."""
        report = {"partial_writes_removed": staging.remove_partial_writes(self.registry),
                  "rolled_forward": [], "discarded": [], "quarantined": [], "adopted": []}
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
            if not committed and manifest.get("round_id", 0) == 0 and not manifest.get("signature"):
                # A registry seeded before this database's first start: its initial model is taken as given.
                self.store.record_model(manifest)
                known[version] = manifest["sha256"]
            if known.get(version) != manifest.get("sha256"):
                report["quarantined"].append(self.quarantine(version, "no committed round publishes it"))
            elif not manifest.get("signature"):
                self.adopt(manifest)
                report["adopted"].append(version)
        # After the scan: a version written by hand may hold the number a committed staging needs.
        for rid in staging.staged_rounds(self.registry):
            mv = committed.get(rid)
            head = self._published_head(mv.version) if mv is not None else None
            if mv is not None and head is not None:
                manifest = staging.staged_manifest(self.registry, rid)
                staging.commit(self.registry, rid, mv.sha256, self._signed(manifest, head))
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
