"""Signed manifests and the reader's audit-head memory; serving starts on the newest intact version."""
from __future__ import annotations

import shutil

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from admodels.models.fedads_model import build_model
from coordinator.audit import public_hex
from fedads.runtime.manifest_signing import ManifestRejected, ModelTrust, signed_fields
from fedads.runtime.staging import rewrite_manifest
from tests.catalogs import registry_with_model


def _manifest(version, sha="a" * 64):
    return {"version": version, "parent_version": version - 1, "round_id": version, "sha256": sha,
            "model_config": {"dim": 8}}


def test_trust_refuses_unsigned_forged_and_backward_manifests(tmp_path):
    key = Ed25519PrivateKey.generate()
    trust = ModelTrust(public_hex(key), tmp_path / "head.json")
    m2 = {**_manifest(2), **signed_fields(_manifest(2), key, 10, "b" * 64)}
    trust.accept(m2)
    with pytest.raises(ManifestRejected, match="unsigned"):
        trust.check(_manifest(3))
    forged = {**m2, "sha256": "c" * 64}  # other weights under the old signature
    with pytest.raises(ManifestRejected, match="signature does not match"):
        trust.check(forged)
    other = Ed25519PrivateKey.generate()
    with pytest.raises(ManifestRejected, match="signature does not match"):
        trust.check({**_manifest(3), **signed_fields(_manifest(3), other, 11, "d" * 64)})
    # A newer version signed under an older (or equal) record: the log went backwards.
    stale = {**_manifest(3), **signed_fields(_manifest(3), key, 9, "e" * 64)}
    with pytest.raises(ManifestRejected, match="went backwards"):
        trust.check(stale)
    # The memory survives a restart of the reader.
    again = ModelTrust(public_hex(key), tmp_path / "head.json")
    assert again.version == 2 and again.head == {"seq": 10, "hash": "b" * 64}
    with pytest.raises(ManifestRejected, match="went backwards"):
        again.check(stale)
    with pytest.raises(ManifestRejected, match="another audit head"):
        again.check({**_manifest(2), **signed_fields(_manifest(2), key, 12, "f" * 64)})
    again.accept({**_manifest(3), **signed_fields(_manifest(3), key, 14, "0" * 64)})
    assert json.loads((tmp_path / "head.json").read_text())["head"]["seq"] == 14


def test_serving_starts_on_the_newest_intact_signed_version(tmp_path, caplog):
    from serving.model_holder import ModelHolder, NoIntactVersion

    key = Ed25519PrivateKey.generate()
    registry, catalog, config = registry_with_model(tmp_path / "registry", 20, dim=8, ffn_hidden=8, max_seq_len=5)
    shutil.rmtree(registry.root / "v000001")  # the versions below are written here, signed one by one
    model = build_model(config, seed=1)
    for v in (1, 2, 3):
        m = registry.publish(**model.publication(), parent_version=v - 1, round_id=v - 1, catalog=catalog.ref())
        rewrite_manifest(registry, v, signed_fields(m, key, 10 * v, f"{v:064x}"))
    rewrite_manifest(registry, 2, {"signature": "00" * 64})  # a forged signature on v2
    (registry.root / "v000003" / "model.safetensors").write_bytes(b"corrupt")  # and corrupt newest weights
    holder = ModelHolder(registry, trust=ModelTrust(public_hex(key)))
    assert holder.current.version == 1
    assert sorted(holder.bad) == [2, 3] and "sha256" in holder.bad[3][1] and "signature" in holder.bad[2][1]
    caplog.clear()
    assert holder.refresh() is False and not [r for r in caplog.records if r.levelname == "ERROR"]  # reported once
    # A new intact version: the next poll takes it.
    m3 = registry.publish(**model.publication(), parent_version=3, round_id=3, catalog=catalog.ref())
    rewrite_manifest(registry, 4, signed_fields(m3, key, 40, "4" * 64))
    assert holder.refresh() and holder.current.version == 4
    # Nothing intact at all: one error naming each version and why.
    for v in (1, 4):
        (registry.root / f"v{v:06d}" / "model.safetensors").unlink()
    with pytest.raises(NoIntactVersion, match=r"v4: FileNotFoundError.*|v1: .*"):
        ModelHolder(registry, trust=ModelTrust(public_hex(key)))
