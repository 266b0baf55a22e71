"""Real processes on loopback: rounds publish the weighted average of the sites' updates computed behind
secure aggregation; no update in the clear and no private parameter ever crosses the wire."""
from __future__ import annotations

import json

import numpy as np
from safetensors.torch import load_file

from client_agent.local_store import LocalStore
from fedads.runtime.hashing import sha256_hex
from fedads.runtime.registry import ModelRegistry
from privacy.secagg.encoding import FixedPoint
from tests.helpers import PRIVATE_ROWS, assert_private_rows_not_sent


def _offsets(manifest):
    """Slot offsets recomputed here from the manifest (tensors in name order, then weight slots)."""
    offsets, pos = {}, 0
    for t in sorted(manifest["tensors"], key=lambda t: t["name"]):
        size = int(np.prod(t["shape"]))
        offsets[t["name"]] = (pos, size, tuple(t["shape"]), t["scope"])
        pos += size
    return offsets, pos


def _stretches(flat: np.ndarray, samples: int):
    """About `samples` stretches of four whole floats of flat, each starting at a nonzero value. A stretch
    cut short at the end can be 4 bytes, which megabytes of traffic hold by chance."""
    starts = np.flatnonzero(flat[:max(0, len(flat) - 3)])
    for start in starts[:: max(1, len(starts) // samples)]:
        yield flat[start:start + 4].tobytes()


def test_rounds_publish_weighted_average_and_nothing_private_crosses_the_wire(federation_factory):
    # site-01 resumes its local Adam state across rounds: those moments must stay on site too.
    # The model reads MovieLens demographics: age bucket and gender in shared tables, occupation and zip in
    # each site's private tables, which must stay on site like the user embeddings.
    fed = federation_factory(n_sites=3, proxy=True, site_config={"site-01": "keep_optimizer_state = true"},
                             user_features=True).start()
    registry = ModelRegistry(fed.registry)
    sent_vectors, masked_uploads, site_01_steps = [], [], 0
    # Round 2 takes a larger global step (server learning rate η) with server momentum β: it also
    # repeats β times round 1's step, read off the registry.
    for r, eta, beta in ((1, 1.0, 0.0), (2, 1.5, 0.5)):
        scale = ("--private-lr-scale", "0.5") if r == 2 else ()
        info = json.loads(fed.ctl("--json", "start-round", "--wait", "--min-sites", "3", "--seed", str(r),
                                  "--server-lr", str(eta), "--server-momentum", str(beta), *scale).stdout)
        assert info["state"] == "COMPLETED", info
        assert info["config"]["private_lr_scale"] == (0.5 if r == 2 else 0.1)
        assert {p["state"] for p in info["participants"]} == {"EVALUATED"}
        assert 0.0 <= info["metrics"]["hr_at_10"] <= 1.0 and info["metrics"]["num_users"] > 0

        base_manifest, base = registry.load(info["base_version"])
        manifest, published = registry.load(info["result_version"])
        previous = registry.load(base_manifest["parent_version"])[1] if beta else None
        assert manifest["parent_version"] == info["base_version"] and manifest["round_id"] == info["round_id"]
        assert all(t["scope"] != "private" for t in manifest["tensors"])
        published_names = {t["name"]: t["scope"] for t in manifest["tensors"]}
        assert {n: published_names.get(n) for n in ("user_feature_emb.age_bucket.weight",
                                                      "user_feature_emb.gender.weight")} == {
            "user_feature_emb.age_bucket.weight": "global", "user_feature_emb.gender.weight": "global"}
        assert not any("zip" in n or "occupation" in n for n in published_names)
        offsets, n_tensor_values = _offsets(manifest)

        sums, weight_sums = None, {}
        for p in info["participants"]:
            site = next(s for s in fed.sites if s.site_id == p["site_id"])
            store = LocalStore(site.folder / "state")
            vector, record = store.sent(info["round_id"])
            masked = store.sent_masked(info["round_id"])
            assert record["secure_aggregation"] and record["dtype"] == "uint48"
            assert record["sha256"] == p["upload_sha256"] == sha256_hex(masked)
            assert record["bytes"] == p["bytes_sent"] == len(masked) == vector.nbytes * 3 // 2
            sent_vectors.append(vector)
            masked_uploads.append(masked)
            sums = vector.astype(np.float64) if sums is None else sums + vector
            if site.site_id == "site-01":
                cfg = info["config"]
                site_01_steps += cfg["epochs"] * -(-p["num_samples"] // cfg["batch_size"])
            for scope, w in record["weights"].items():
                weight_sums[scope] = weight_sums.get(scope, 0.0) + w
        assert weight_sums["global"] == sum(p["num_samples"] for p in info["participants"])

        assert manifest["extras"]["secure_aggregation"] is True
        assert manifest["extras"]["server_learning_rate"] == eta and manifest["extras"]["server_momentum"] == beta
        quantisation = FixedPoint(2.0 ** 24, 3, 48).error_bound(3)
        changed = 0
        for name, (off, size, shape, scope) in offsets.items():
            expected = base[name].astype(np.float64)
            if weight_sums[scope] > 0:
                step = 1.0 if name == "interest.mean" else eta  # a published mean is never extrapolated
                expected = expected + step * (sums[off:off + size] / weight_sums[scope]).reshape(shape)
                if previous is not None and name != "interest.mean":
                    expected = expected + beta * (base[name] - previous[name].astype(np.float64))
            bound = eta * quantisation / weight_sums[scope] if weight_sums[scope] > 0 else 0.0
            np.testing.assert_allclose(published[name], expected, rtol=1e-5, atol=1e-6 + bound, err_msg=name)
            changed += not np.array_equal(published[name], base[name])
        assert changed > len(offsets) // 2, "training should move most shared tensors"
        assert len(sums) == n_tensor_values + 1 + sum(s.startswith("group:") for s in weight_sums)

    wire = fed.coord_proxy.bytes() + fed.agg_proxy.bytes()
    # Positive control: the masked vectors the sites uploaded are visible in the captured traffic ...
    for masked in masked_uploads:
        assert masked[8000:8128] in wire
    # ... while no stretch of any site's update in the clear is (the aggregator only saw masked sums).
    for vector in sent_vectors:
        for stretch in _stretches(vector, 50):
            assert stretch not in wire
    # No private parameter (user embeddings, user FFN factors, the site's user-feature tables) appears in any
    # byte sent.
    checked = 0
    for site in fed.sites:
        private = load_file(str(site.folder / "state" / "private.safetensors"))
        assert {"user_feature_emb.occupation", "user_feature_emb.zip"} <= set(private)
        checked += assert_private_rows_not_sent(site.folder, wire, (*PRIVATE_ROWS, "user_feature_emb.occupation",
                                                                    "user_feature_emb.zip"))
    assert checked > 100
    # The kept optimiser state resumed over both rounds, and none of its moments was sent.
    moments = load_file(str(fed.sites[0].folder / "state" / "optimizer.safetensors"))
    steps = {float(t) for k, t in moments.items() if k.endswith("/step")}
    assert steps == {site_01_steps} and site_01_steps >= 2  # one round alone would leave half
    checked = 0
    for name, tensor in moments.items():
        if name.endswith(("/exp_avg", "/exp_avg_sq")):
            for stretch in _stretches(tensor.numpy().reshape(-1).astype("<f4"), 20):
                assert stretch not in wire, f"a moment of {name} was sent"
                checked += 1
    assert checked > 100
    assert not (fed.sites[1].folder / "state" / "optimizer.safetensors").exists()
