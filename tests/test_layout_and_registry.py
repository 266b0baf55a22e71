from __future__ import annotations

import json

import numpy as np
import pytest

from fedads.runtime.layout import LayoutError, UpdateLayout
from fedads.runtime.registry import ModelRegistry, RegistryError, VersionNotFound


def test_layout_weighted_average_matches_direct_computation():
    specs = [("b", (2, 3), "group:1"), ("a", (4,), "global"), ("c", (3,), "group:0")]
    layout = UpdateLayout(specs)
    assert [s.name for s in layout.slots] == ["a", "b", "c"]
    assert layout.scopes == ["global", "group:0", "group:1"]
    rng = np.random.default_rng(0)
    base = {n: rng.normal(size=s).astype(np.float32) for n, s, _ in specs}
    sites = []
    for i in range(4):
        deltas = {n: rng.normal(size=s).astype(np.float32) for n, s, _ in specs}
        weights = {"global": float(10 + i), "group:0": float(i), "group:1": 0.0}
        sites.append((deltas, weights))
    total = sum(layout.pack(d, w).astype(np.float64) for d, w in sites)
    out = layout.apply(base, total)
    for name, _, scope in specs:
        wsum = sum(w[scope] for _, w in sites)
        direct = base[name] + (sum(w[scope] * d[name] for d, w in sites) / wsum if wsum else 0)
        np.testing.assert_allclose(out[name], direct, rtol=1e-5, atol=1e-6)
    assert np.array_equal(out["b"], base["b"])  # no mass routed to group 1


def test_statistics_marked_in_the_manifest_take_no_server_step(tmp_path):
    from fedads.runtime.registry import manifest_from_proto, manifest_to_proto

    reg = ModelRegistry(tmp_path)
    base = {"w": np.ones(3, np.float32), "mean": np.zeros(2, np.float32)}
    manifest = reg.publish(base, {"w": "global", "mean": "global"}, parent_version=0, round_id=0, model_config={},
                           statistics={"mean"})
    # the mark survives the wire (sites read the manifest from RegistryService)
    manifest = manifest_from_proto(manifest_to_proto(manifest))
    assert {t["name"]: t["statistic"] for t in manifest["tensors"]} == {"mean": True, "w": False}
    layout = UpdateLayout.from_manifest(manifest)
    assert {s.name for s in layout.slots if s.statistic} == {"mean"}
    sites = [({"w": np.full(3, d, np.float32), "mean": np.full(2, m, np.float32)}, {"global": n})
             for d, m, n in ((1.0, 4.0, 1.0), (3.0, 8.0, 3.0))]
    total = sum(layout.pack(d, w).astype(np.float64) for d, w in sites)
    out = layout.apply(base, total, server_lr=2.0)
    np.testing.assert_allclose(out["w"], 1 + 2.0 * (1 * 1 + 3 * 3) / 4)   # a trained tensor takes η
    np.testing.assert_allclose(out["mean"], (1 * 4 + 3 * 8) / 4)          # a statistic is the weighted mean
    # the next version keeps the base's declarations and names it as parent
    successor = reg.publish_successor(manifest, out, round_id=1)
    assert successor["parent_version"] == manifest["version"] and successor["tensors"] == [
        {**t, "shape": list(t["shape"])} for t in manifest["tensors"]]
    # server momentum: the step adds β·(base − base's parent), read from the registry; a first model has none
    assert reg.parent_tensors(manifest) is None
    previous = reg.parent_tensors(successor)
    np.testing.assert_array_equal(previous["w"], base["w"])
    again = layout.apply(out, total, server_lr=2.0, momentum=0.5, previous=previous)
    np.testing.assert_allclose(again["w"], out["w"] + 2.0 * 10 / 4 + 0.5 * (out["w"] - base["w"]))
    np.testing.assert_allclose(again["mean"], out["mean"] + (1 * 4 + 3 * 8) / 4)  # a statistic: no momentum
    np.testing.assert_allclose(layout.apply(out, total, 2.0, momentum=0.0, previous=previous)["w"],
                               layout.apply(out, total, 2.0)["w"])
    with pytest.raises(RegistryError, match="not published"):
        reg.publish(base, {"w": "global", "mean": "global"}, parent_version=1, round_id=1, model_config={},
                    statistics={"interest.mean"})


def test_layout_refuses_private_and_foreign_tensors():
    with pytest.raises(LayoutError, match="private"):
        UpdateLayout([("user_emb", (3,), "private")])
    with pytest.raises(LayoutError, match="unknown parameter scope"):
        UpdateLayout([("x", (3,), "grp:1")])
    layout = UpdateLayout([("a", (2,), "global")])
    with pytest.raises(LayoutError, match="does not share"):
        layout.pack({"a": np.zeros(2), "user_emb": np.zeros(2)}, {"global": 1})
    with pytest.raises(LayoutError, match="shape"):
        layout.pack({"a": np.zeros(3)}, {"global": 1})


def test_registry_publishes_atomically_and_checks_hashes(tmp_path):
    reg = ModelRegistry(tmp_path)
    with pytest.raises(VersionNotFound):
        reg.manifest()
    t = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    m1 = reg.publish(t, {"w": "global"}, parent_version=0, round_id=0, model_config={"n": 1})
    m2 = reg.publish({"w": t["w"] + 1}, {"w": "global"}, parent_version=1, round_id=1, model_config={"n": 1})
    assert (m1["version"], m2["version"]) == (1, 2) and reg.latest_version() == 2
    assert not list(tmp_path.glob(".staging-*"))
    manifest, loaded = reg.load(1)
    assert np.array_equal(loaded["w"], t["w"]) and manifest["tensors"][0]["scope"] == "global"
    with pytest.raises(RegistryError, match="private"):
        reg.publish({"u": np.zeros(2, np.float32)}, {"u": "private"}, parent_version=2, round_id=2, model_config={})
    with pytest.raises(RegistryError, match="NaN"):
        reg.publish({"w": np.full(2, np.nan, np.float32)}, {"w": "global"}, parent_version=2, round_id=2,
                    model_config={})
    assert reg.versions() == [1, 2]
    # A corrupted weights file is refused on load, never silently served.
    path = tmp_path / "v000002" / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(RegistryError, match="sha256"):
        reg.load(2)
    reg.set_metrics(1, {"hr_at_10": 0.5})
    assert json.loads((tmp_path / "v000001" / "manifest.json").read_text())["metrics"] == {"hr_at_10": 0.5}
