"""Membership is enforced where the sum is made: a site revoked after it uploaded its masked input is a
SecAgg dropout (input excluded, masks recovered from the survivors' shares), so the sum, the manifest's site
list, the weights and the audit log agree; and the aggregator refuses it from that moment on its own."""
from __future__ import annotations

from functools import partial
from pathlib import Path

import grpc
import pytest

from client_agent.local_store import LocalStore
from fedads.runtime.registry import ModelRegistry
from fedads.runtime.server import channel
from fedads.runtime.tls import Transport
from fedads.v1 import aggregator_pb2 as apb
from fedads.v1 import aggregator_pb2_grpc
from tests.helpers import wait_until


_wait = partial(wait_until, timeout=180.0)


def test_site_revoked_after_uploading_is_in_no_sum_manifest_or_weight(federation_factory, monkeypatch):
    fed = federation_factory(n_sites=3).start()
    registry = ModelRegistry(fed.registry)
    # site-01 (restarted with a pause point) shares its keys and trains, then holds its upload: the round
    # stays in training while the others upload.
    arm = fed.workdir / "site-01-pause"
    fed.kill_agent("site-01")
    monkeypatch.setenv("FEDADS_PAUSE_BEFORE_UPLOAD", str(arm))
    fed.start_agent("site-01")
    monkeypatch.delenv("FEDADS_PAUSE_BEFORE_UPLOAD")
    fed.wait_online(3)
    arm.write_text("")
    info = fed.ctl_json("start-round", "--min-sites", "2")
    rid = info["round_id"]
    states = lambda: {p["site_id"]: p["state"] for p in fed.ctl_json("round", str(rid))["participants"]}
    _wait(lambda: Path(f"{arm}.reached").exists() and states()["site-02"] == states()["site-03"] == "UPLOADED")
    fed.ctl("revoke", "--site", "site-03")  # its masked input already sits on the aggregator
    Path(f"{arm}.release").write_text("")
    r = fed.wait_round(rid)
    assert r["state"] == "COMPLETED", r["failure_reason"]
    parts = {p["site_id"]: p for p in r["participants"]}
    assert parts["site-03"]["state"] == "DROPPED" and "revoked" in parts["site-03"]["error"]
    manifest = registry.manifest(r["result_version"])
    assert sorted(manifest["extras"]["sites"]) == ["site-01", "site-02"]
    sent = {s.site_id: LocalStore(s.folder / "state").sent(rid)[1]["weights"] for s in fed.sites}
    kept = sent["site-01"]["global"] + sent["site-02"]["global"]
    assert abs(manifest["extras"]["weights"]["global"] - kept) < 1e-3 * kept  # site-03's samples are not in it
    assert sent["site-03"]["global"] > 1e-2 * kept
    records = [x["body"] for x in fed.ctl_json("audit", "--verify", "--round", str(rid))]
    [published] = [b["payload"] for b in records if b["kind"] == "model_published"]
    assert sorted(published["sites"]) == ["site-01", "site-02"]
    assert any(b["kind"] == "site_revoked" and b["payload"]["site"] == "site-03" for b in
               (x["body"] for x in fed.ctl_json("audit")))
    # The aggregator itself now refuses site-03's certificate, whatever it asks.
    spec = next(x for x in fed.sites if x.site_id == "site-03")
    site_transport = Transport(LocalStore(spec.folder / "state").tls_identity())
    stub = aggregator_pb2_grpc.AggregatorServiceStub(channel(fed.aggregator, site_transport))
    with pytest.raises(grpc.RpcError) as err:
        stub.AdvertiseKeys(apb.AdvertiseKeysRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED and "site-03 is revoked" in err.value.details()
