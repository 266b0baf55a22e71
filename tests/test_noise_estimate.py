"""The pre-round noise estimate: the partner kit's old site-level setting is refused, the shipped
record-level one passes, and a refusal over the real admin API leaves no round and an audit record."""
from __future__ import annotations

import json
import threading

import grpc
import pytest

from coordinator.kit import KIT_PRIVACY
from coordinator.noise_estimate import MAX_NOISE_RATIO, estimate
from fedads.runtime.site_auth import site_credentials
from fedads.v1 import admin_pb2 as pb
from fedads.v1 import common_pb2
from fedads.v1 import coordinator_pb2 as cpb
from tests.test_coordinator_api import KEY, services  # noqa: F401 - the fixture

D = 130_000  # shared coordinates of the ML-100K model docs/privacy.md measured
OLD_KIT = {"unit": "site", "clip_norm": 1.0, "epsilon_budget": 8.0, "delta": 1e-5, "noise_multiplier": 0.0,
           "planned_rounds": 10, "num_records": 12_500}


def test_old_kit_setting_swamps_two_sites():
    est = estimate({"site-01": OLD_KIT, "site-02": OLD_KIT}, {"site-01": 1.0, "site-02": 1.0}, D, batch_size=256)
    sigma = est["sites"][0]["sigma"]
    assert sigma == pytest.approx(2.02, abs=0.01)
    # σ·√d/√2 for two equal sites: the noise is hundreds of times the largest clipped update.
    assert est["site_level_noise_to_signal"] == pytest.approx(sigma * D ** 0.5 / 2 ** 0.5, rel=1e-3)
    assert est["swamped"] and est["noise_to_signal"] > 100 * MAX_NOISE_RATIO


def test_shipped_kit_setting_keeps_the_average():
    kit = {"unit": KIT_PRIVACY["dp_unit"], "clip_norm": KIT_PRIVACY["dp_clip_norm"],
           "epsilon_budget": KIT_PRIVACY["dp_epsilon_budget"], "delta": KIT_PRIVACY["dp_delta"],
           "noise_multiplier": 0.0, "planned_rounds": KIT_PRIVACY["dp_planned_rounds"], "num_records": 12_500}
    est = estimate({"a": kit, "b": kit}, {"a": 1.0, "b": 1.0}, D, batch_size=1024)
    assert est["sites"][0]["sigma"] == pytest.approx(0.94, abs=0.01)  # docs/privacy.md's σ at ε = 8
    assert not est["swamped"]
    # docs/privacy.md's first record-level sweep, at chance: ~2,400 records a site, batch 256, 5 rounds.
    small = {**kit, "clip_norm": 1.0, "num_records": 2_400, "planned_rounds": 5}
    assert estimate({"a": small}, {"a": 1.0}, D, batch_size=256)["swamped"]


def test_more_sites_average_site_level_noise_down():
    few = estimate({s: OLD_KIT for s in "ab"}, {s: 1.0 for s in "ab"}, D, 256)["noise_to_signal"]
    many = estimate({s: OLD_KIT for s in "abcdefgh"}, {s: 1.0 for s in "abcdefgh"}, D, 256)["noise_to_signal"]
    assert many == pytest.approx(few / 2, rel=1e-3)
    # Sites without DP add weight but no noise.
    mixed = estimate({"a": OLD_KIT}, {"a": 1.0, "b": 1.0}, D, 256)
    assert mixed["noise_to_signal"] == pytest.approx(few / 2 ** 0.5, rel=1e-3)


def _connect(sites, admin, name, privacy):
    token = admin.CreateEnrollment(pb.CreateEnrollmentRequest(site_id=name)).enrollment_token
    creds = site_credentials(name, sites.Enroll(cpb.EnrollRequest(site_id=name, enrollment_token=token,
                                                                  identity_public_key=KEY)).site_secret)
    stream = sites.Connect(cpb.ConnectRequest(num_samples=100, privacy=privacy), metadata=creds)
    threading.Thread(target=_drain, args=(stream,), daemon=True).start()
    return stream


def _drain(stream) -> None:
    try:
        for _ in stream:
            pass
    except grpc.RpcError:  # cancelled at the end of the test, or the server stopped
        pass


def test_refused_round_leaves_no_round_and_is_audited(services):  # noqa: F811
    sites, admin, coord = services
    old = cpb.SitePrivacySettings(unit="site", clip_norm=1.0, epsilon_budget=8.0, delta=1e-5, planned_rounds=10,
                                  num_records=100)
    streams = [_connect(sites, admin, name, old) for name in ("site-01", "site-02")]
    deadline = threading.Event()
    for _ in range(100):
        if admin.GetStatus(common_pb2.Empty()).sites_online == 2:
            break
        deadline.wait(0.05)
    with pytest.raises(grpc.RpcError) as err:
        admin.StartRound(pb.StartRoundRequest(config=pb.RoundConfig(min_sites=2)))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "site-level DP noise" in err.value.details() and "--accept-noise" in err.value.details()
    assert list(admin.ListRounds(pb.ListRoundsRequest()).rounds) == []
    records = [json.loads(r.body_json) for r in admin.ExportAudit(pb.ExportAuditRequest())]
    refused = [r for r in records if r["kind"] == "round_refused"]
    assert len(refused) == 1 and refused[0]["payload"]["decision"] == "refused"
    assert refused[0]["payload"]["noise_to_signal"] > 1

    # Accepted explicitly: the round starts, and the estimate with the operator's decision is in its log.
    info = admin.StartRound(pb.StartRoundRequest(config=pb.RoundConfig(min_sites=2, accept_noise=True)))
    records = [json.loads(r.body_json) for r in admin.ExportAudit(pb.ExportAuditRequest(round_id=info.round_id))]
    est = [r for r in records if r["kind"] == "noise_estimate"]
    assert len(est) == 1 and "accepted by the operator" in est[0]["payload"]["decision"]
    assert est[0]["payload"]["warning"]
    stopped = admin.StopRound(pb.StopRoundRequest(round_id=info.round_id, reason="test over"))
    assert stopped.state == "FAILED" and "stopped by the operator: test over" in stopped.failure_reason
    for s in streams:
        s.cancel()


def test_deployed_site_configs_ship_the_kit_setting():
    from pathlib import Path

    from client_agent.config import SiteConfig

    for path in sorted((Path(__file__).resolve().parent.parent / "deploy" / "site").glob("site-*.toml")):
        site = SiteConfig.load(path)
        assert (site.dp_unit, site.dp_clip_norm, site.dp_epsilon_budget, site.dp_delta, site.dp_planned_rounds) == \
            tuple(KIT_PRIVACY[k] for k in ("dp_unit", "dp_clip_norm", "dp_epsilon_budget", "dp_delta",
                                           "dp_planned_rounds")), path
