"""Publication is the commit of a completed round: kill -9 of the coordinator on either side of the commit
(made deterministic by pause points in the aggregator and the coordinator) ends, after a restart, in a round
COMPLETED with its version committed and logged, or FAILED with no version anywhere."""
from __future__ import annotations

import json
import signal
from functools import partial
from pathlib import Path

from fedads.runtime.registry import ModelRegistry
from tests.helpers import registry_snapshot, wait_until


_wait = partial(wait_until, timeout=180.0)


def _kill_coordinator(fed):
    fed.services["coordinator"].send_signal(signal.SIGKILL)
    fed.services["coordinator"].wait()


def _published_records(fed, round_id):
    records = fed.ctl_json("audit", "--verify")
    return [r["body"]["payload"] for r in records if r["body"]["kind"] == "model_published" and r["body"]["round_id"] == round_id]


def _leftovers(fed):
    return sorted(p.name for p in fed.registry.iterdir() if p.name.startswith((".staged-", ".staging-")))


def test_killed_before_the_commit_the_round_fails_and_its_version_exists_nowhere(federation_factory, monkeypatch):
    fed = federation_factory(n_sites=2)
    arm = fed.workdir / "pause-after-staging"
    monkeypatch.setenv("FEDADS_PAUSE_AFTER_STAGING", str(arm))
    fed.start()
    registry = ModelRegistry(fed.registry)
    before = registry_snapshot(registry)
    arm.write_text("")
    info = fed.ctl_json("start-round", "--min-sites", "2")
    _wait(Path(f"{arm}.reached").exists)  # the aggregator has staged the round's version and holds its answer
    staged = int(Path(f"{arm}.reached").read_text())
    assert _leftovers(fed) == [f".staged-r{info['round_id']:08d}"] and registry_snapshot(registry) == before
    _kill_coordinator(fed)
    Path(f"{arm}.release").write_text("")  # the aggregator answers a coordinator that is gone
    fed.start_coordinator()
    r = fed.ctl_json("round", str(info["round_id"]))
    assert r["state"] == "FAILED" and "coordinator restarted" in r["failure_reason"] and not r["result_version"]
    assert registry_snapshot(registry) == before and _leftovers(fed) == []
    assert staged not in [m["version"] for m in fed.ctl_json("models")]
    assert _published_records(fed, info["round_id"]) == []
    fed.wait_online(2)
    nxt = json.loads(fed.ctl("--json", "start-round", "--wait", "--min-sites", "2").stdout)
    # The next round starts from the last committed version and takes the number the failed one never had.
    assert nxt["state"] == "COMPLETED" and nxt["base_version"] == max(before) and nxt["result_version"] == staged
    [published] = _published_records(fed, nxt["round_id"])
    assert published["sha256"] == registry.manifest(staged)["sha256"]


def test_killed_after_the_commit_the_round_completes_with_its_version_published(federation_factory, monkeypatch):
    fed = federation_factory(n_sites=2)
    arm = fed.workdir / "pause-after-commit"
    monkeypatch.setenv("FEDADS_PAUSE_AFTER_COMMIT", str(arm))
    fed.start()
    registry = ModelRegistry(fed.registry)
    before = registry_snapshot(registry)
    arm.write_text("")
    info = fed.ctl_json("start-round", "--min-sites", "2")
    _wait(Path(f"{arm}.reached").exists)  # committed in SQL, not yet renamed into the registry
    version = int(Path(f"{arm}.reached").read_text())
    assert registry_snapshot(registry) == before and _leftovers(fed) == [f".staged-r{info['round_id']:08d}"]
    _kill_coordinator(fed)
    fed.start_coordinator()  # the pause point fired once; the restart rolls the commit forward
    r = fed.ctl_json("round", str(info["round_id"]))
    assert r["state"] == "COMPLETED" and r["result_version"] == version, r
    assert registry.versions() == sorted(before) + [version] and _leftovers(fed) == []
    manifest = registry.manifest(version)
    [published] = _published_records(fed, info["round_id"])
    uploaded = sorted(p["site_id"] for p in r["participants"] if p["upload_sha256"])
    assert published["sha256"] == manifest["sha256"] == registry.read_bytes(version)[0]["sha256"]
    assert sorted(published["sites"]) == sorted(manifest["extras"]["sites"]) == uploaded == ["site-01", "site-02"]
    assert version in [m["version"] for m in fed.ctl_json("models")]


def _aggregating_round(tmp_path):
    """A publisher with a first version, and round 1 in its aggregating stage, as a coordinator leaves them."""
    import numpy as np

    from coordinator.audit import AuditLog, load_or_create_key
    from coordinator.publication import Publisher
    from coordinator.store import CoordinatorStore

    store = CoordinatorStore(f"sqlite:///{tmp_path / 'c.db'}")
    registry = ModelRegistry(tmp_path / "registry")
    publisher = Publisher(store, registry, AuditLog(store, load_or_create_key(tmp_path / "audit.key")))
    t = {"w": np.zeros(3, np.float32)}
    base = publisher.publish_initial({"tensors": t, "scopes": {"w": "global"}, "model_config": {}})
    store.create_enrollment("site-a")
    rid = store.create_round({}, 1, {"site-a": "h" * 64})
    store.set_round_state(rid, "AGGREGATING")
    return store, registry, publisher, t, base, rid


def test_recovery_resolves_every_leftover_of_a_killed_publisher(tmp_path):
    from fedads.runtime import manifest_signing, staging

    store, registry, publisher, t, base, rid = _aggregating_round(tmp_path)
    built_on_base = {"base_sha256": base["sha256"]}
    committed = registry.publish_successor(base, {"w": t["w"] + 1}, round_id=rid, staged=True, extras=built_on_base)
    publisher.record(rid, committed)  # the durable step only: as a coordinator killed before the rename leaves it
    registry.publish_successor(base, {"w": t["w"] + 2}, round_id=rid + 1, staged=True)  # never committed
    hand = registry.publish_successor(base, {"w": t["w"] + 3}, round_id=99)  # written by hand, no round
    (tmp_path / "registry" / ".staging-dead").mkdir()  # a write killed midway
    (tmp_path / "registry" / ".staging-dead" / "model.safetensors").write_bytes(b"x" * 100)

    report = publisher.recover()
    assert report["rolled_forward"] == [committed["version"]] and report["discarded"] == [rid + 1]
    assert report["partial_writes_removed"] == [".staging-dead"]
    assert report["quarantined"] == [f"v{hand['version']:06d}: no committed round publishes it"] != []
    assert registry.versions() == [1, committed["version"]] and staging.staged_rounds(registry) == []
    rolled = registry.read_bytes(committed["version"])[0]
    assert rolled["sha256"] == committed["sha256"]
    # Rolled forward under the audit record its commit wrote, signed like a version committed without a crash.
    key = manifest_signing.public_key((tmp_path / "audit.pub").read_text())
    head = manifest_signing.verify(rolled, key)
    [rec] = [r for r in publisher.audit.records(rid) if r["body"]["kind"] == "model_published"]
    assert head == {"seq": rec["body"]["index"], "hash": rec["hash"]}
    # A manifest that no longer parses is moved aside and named, and start-up goes on.
    (tmp_path / "registry" / "v000001" / "manifest.json").write_text("{not json")
    report = publisher.recover()
    assert len(report["quarantined"]) == 1 and report["quarantined"][0].startswith("v000001: manifest unreadable")
    assert registry.versions() == [committed["version"]]
    assert (tmp_path / "registry" / ".quarantine").is_dir()



def test_a_round_built_on_an_altered_base_is_never_signed(tmp_path):
    import pytest

    from coordinator.store import StoreError

    store, registry, publisher, t, base, rid = _aggregating_round(tmp_path)
    records = len(publisher.audit.records())
    # What an aggregator reading a swapped registry file (with its manifest rewritten to match) reports.
    forged = registry.publish_successor(base, {"w": t["w"] + 1}, round_id=rid, staged=True,
                                        extras={"base_sha256": "f" * 64})
    with pytest.raises(StoreError, match="registry was altered") as refused:
        publisher.record(rid, forged)
    assert refused.value.kind == "precondition"
    assert len(publisher.audit.records()) == records and store.round(rid)["state"] == "AGGREGATING"
    # The genuine base is accepted.
    genuine = registry.publish_successor(base, {"w": t["w"] + 1}, round_id=rid + 1, staged=True,
                                         extras={"base_sha256": base["sha256"]})
    assert publisher.record(rid, genuine)["seq"] == records
