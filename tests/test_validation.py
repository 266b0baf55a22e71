"""Validation: a zero is a zero (refused where it makes no sense, never silently a default), values beyond
finite bounds are refused before a round row exists, serving refuses unknown enum values, and the in-process
behaviour store stays bounded."""
from __future__ import annotations

import grpc
import pytest

from coordinator.round_config import RoundConfigError, RoundSettings
from fedads.v1 import admin_pb2 as pb

REFUSED = [
    (["--server-lr", "0"], "server learning rate"),
    (["--stage-deadline-s", "0"], "deadlines must lie in"),
    (["--deadline-s", "inf"], "deadlines must lie in"),
    (["--eval-deadline-s", "nan"], "deadlines must lie in"),
    (["--prox-mu", "inf"], "prox-mu must lie in"),
    (["--secagg-clip", "1e308"], "secagg clip must lie in"),
    (["--secagg-clip", "1e-300"], "secagg clip must lie in"),
    (["--lr", "0"], "learning rate"),
    (["--batch-size", "0"], "batch size"),
    (["--seed", str(2 ** 70)], "--seed"),
    (["--epochs", str(2 ** 40)], "--epochs"),
]


def test_bad_round_settings_are_refused_in_one_line_before_a_round_exists(federation_factory):
    fed = federation_factory(n_sites=2)
    fed.start_aggregator()
    fed.start_coordinator()
    for flags, words in REFUSED:
        res = fed.ctl("start-round", *flags, check=False)
        lines = [x for x in res.stderr.splitlines() if x.strip()]
        assert res.returncode != 0 and len(lines) == 1 and words in lines[0], (flags, res.stderr)
        assert "Traceback" not in res.stderr
    assert fed.ctl_json("rounds") == []


def test_presence_tells_an_explicit_zero_from_an_unset_field():
    assert RoundSettings.from_proto(pb.RoundConfig()).server_learning_rate == 1.0  # unset: the default
    assert RoundSettings.from_proto(pb.RoundConfig(server_momentum=0.5)).stage_deadline_s == 120.0
    for field in ("server_learning_rate", "stage_deadline_s", "train_deadline_s", "learning_rate", "epochs",
                  "batch_size", "secagg_clip", "interest_beta", "private_lr_scale", "min_sites", "negatives"):
        with pytest.raises(RoundConfigError):
            RoundSettings.from_proto(pb.RoundConfig(**{field: 0}))


def test_serving_refuses_an_objective_outside_its_enum(tmp_path):
    from fedads.runtime.server import channel
    from fedads.runtime.tls import Transport
    from fedads.v1 import serving_pb2 as spb
    from fedads.v1 import serving_pb2_grpc
    from serving.main import build_parser, build_server
    from tests.catalogs import registry_with_model
    from tests.test_serving import ads

    registry, _, _ = registry_with_model(tmp_path / "registry", 20, dim=8, ffn_hidden=8, max_seq_len=5)
    server = build_server(build_parser().parse_args(["--listen", "127.0.0.1:0", "--registry", str(registry.root),
                                                     "--poll-s", "3600", "--insecure"]))
    try:
        stub = serving_pb2_grpc.ServingServiceStub(channel(f"127.0.0.1:{server.port}", Transport.insecure()))
        assert stub.Rank(spb.RankRequest(user_id="u", candidates=ads(2, 3), objective=spb.OBJECTIVE_CVR), timeout=30).ranked
        with pytest.raises(grpc.RpcError) as err:
            stub.Rank(spb.RankRequest(user_id="u", candidates=ads(2, 3), objective=7), timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "objective 7" in err.value.details()
    finally:
        server.stop_watch.set()
        server.stop(0)


def test_in_process_behaviour_store_is_globally_bounded():
    from serving.behavior_store import InMemoryBehaviorStore

    store = InMemoryBehaviorStore(max_len=3, ttl_s=3600, max_users=100)
    store.append((f"user-{i}", f"ad-{j + 1}") for i in range(1000) for j in range(5))
    assert len(store) == 100 and store.evicted == 900
    assert store.recent("user-999") == ["ad-3", "ad-4", "ad-5"] and store.recent("user-0") == []
    store.append([("user-900", "ad-9")])  # a write keeps a user; the least recently written one goes
    store.append([("new", "ad-1")])
    assert store.recent("user-900") == ["ad-4", "ad-5", "ad-9"] and store.recent("user-901") == [] and len(store) == 100
