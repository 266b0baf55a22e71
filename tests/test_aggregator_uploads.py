"""The aggregator over real gRPC on loopback: malformed uploads are refused precisely and change nothing."""
from __future__ import annotations

import hashlib

import grpc
import numpy as np
import pytest

from aggregator.service import AggregatorCore, AggregatorServicer
from client_agent.agent import upload_stream
from fedads.runtime.layout import UpdateLayout
from fedads.runtime import staging
from fedads.runtime.registry import ModelRegistry
from fedads.runtime.server import GrpcServer, channel
from fedads.v1 import aggregator_pb2 as apb
from fedads.v1 import aggregator_pb2_grpc
from fedads.runtime.tls import Transport

PLAIN = Transport.insecure()  # these runs measure or fuzz the services, not TLS

TOKENS = {"site-a": "token-a", "site-b": "token-b"}


def _sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


@pytest.fixture
def aggregator(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    rng = np.random.default_rng(0)
    base = {"dense.weight": rng.normal(size=(3, 4)).astype(np.float32),
            "groups.0.w": rng.normal(size=(5,)).astype(np.float32),
            "groups.1.w": rng.normal(size=(2,)).astype(np.float32)}
    scopes = {"dense.weight": "global", "groups.0.w": "group:0", "groups.1.w": "group:1"}
    registry.publish(base, scopes, parent_version=0, round_id=0, model_config={})
    core = AggregatorCore(registry)
    server = GrpcServer(max_workers=8)
    server.add(aggregator_pb2_grpc.add_AggregatorServiceServicer_to_server, AggregatorServicer(core),
               ["fedads.v1.AggregatorService"])
    port = server.start("127.0.0.1:0", PLAIN)
    stub = aggregator_pb2_grpc.AggregatorServiceStub(channel(f"127.0.0.1:{port}", PLAIN))
    stub.OpenRound(apb.OpenRoundRequest(round_id=1, base_version=1, participants=[
        apb.RoundParticipant(site_id=s, upload_token_sha256=_sha(t)) for s, t in TOKENS.items()]))
    yield stub, core, registry, base
    server.stop(0)


def _vector(layout: UpdateLayout, seed: int, w_global: float, w_groups=(1.0, 0.0)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    deltas = {s.name: rng.normal(size=s.shape).astype(np.float32) for s in layout.slots}
    return layout.pack(deltas, {"global": w_global, "group:0": w_groups[0], "group:1": w_groups[1]})


def _upload(stub, vec: np.ndarray, site="site-a", token=None, round_id=1, **header_overrides):
    data = np.asarray(vec).tobytes()
    msgs = list(upload_stream(round_id, site, token or TOKENS.get(site, "x"), data))
    for k, v in header_overrides.items():
        setattr(msgs[0].header, k, v)
    return stub.UploadUpdate(iter(msgs))


def _rejected(fn, code, fragment):
    with pytest.raises(grpc.RpcError) as err:
        fn()
    assert err.value.code() == code, err.value.details()
    assert fragment in err.value.details()


def test_malformed_uploads_are_refused_and_leave_no_trace(aggregator):
    stub, core, registry, base = aggregator
    layout = core.get(1).layout
    good = _vector(layout, 1, 10.0)
    bad_nan = good.copy()
    bad_nan[3] = np.nan
    bad_inf = good.copy()
    bad_inf[0] = np.inf
    negative = good.copy()
    negative[layout.weight_slot("global")] = -1
    cases = [
        (lambda: _upload(stub, good[:-1]), grpc.StatusCode.INVALID_ARGUMENT, "expects"),
        (lambda: _upload(stub, good.astype(np.float64), num_elements=layout.length, dtype="float64"),
         grpc.StatusCode.INVALID_ARGUMENT, "dtype"),
        (lambda: _upload(stub, bad_nan), grpc.StatusCode.INVALID_ARGUMENT, "NaN or Inf"),
        (lambda: _upload(stub, bad_inf), grpc.StatusCode.INVALID_ARGUMENT, "NaN or Inf"),
        (lambda: _upload(stub, negative), grpc.StatusCode.INVALID_ARGUMENT, "negative"),
        (lambda: _upload(stub, good, site="site-z"), grpc.StatusCode.PERMISSION_DENIED, "not a participant"),
        (lambda: _upload(stub, good, token="stolen"), grpc.StatusCode.UNAUTHENTICATED, "token"),
        (lambda: _upload(stub, good, round_id=7), grpc.StatusCode.NOT_FOUND, "round 7"),
        (lambda: _upload(stub, good, sha256="0" * 64), grpc.StatusCode.INVALID_ARGUMENT, "sha256"),
        (lambda: _upload(stub, np.concatenate([good, good[:1]]), num_elements=layout.length),
         grpc.StatusCode.INVALID_ARGUMENT, "more than"),
        (lambda: _upload(stub, good[:-2], num_elements=layout.length), grpc.StatusCode.INVALID_ARGUMENT,
         "announced"),
        (lambda: stub.UploadUpdate(iter([apb.UpdateChunk(data=b"1234")])), grpc.StatusCode.INVALID_ARGUMENT,
         "must start with an UpdateHeader"),
    ]
    for fn, code, fragment in cases:
        _rejected(fn, code, fragment)
        assert core.get(1).received == {}

    receipt = _upload(stub, good)
    assert receipt.sha256 == hashlib.sha256(good.tobytes()).hexdigest()
    _rejected(lambda: _upload(stub, _vector(layout, 2, 5.0)), grpc.StatusCode.ALREADY_EXISTS, "already uploaded")
    other = _vector(layout, 3, 30.0, (0.5, 0.0))
    _upload(stub, other, site="site-b")

    resp = stub.FinalizeRound(apb.FinalizeRoundRequest(round_id=1, site_ids=["site-a", "site-b"], min_sites=2))
    assert registry.versions() == [1]  # staged: invisible until the coordinator commits the round
    staging.commit(registry, 1, resp.sha256)
    _, published = registry.load(resp.version)
    total = good.astype(np.float64) + other
    for slot in layout.slots:
        w = {"global": 40.0, "group:0": 1.5, "group:1": 0.0}[slot.scope]
        expected = base[slot.name] + (total[slot.offset:slot.offset + slot.size] / w).reshape(slot.shape) if w \
            else base[slot.name]
        np.testing.assert_allclose(published[slot.name], expected, rtol=1e-6, atol=1e-6)
    # Group 1 got no routed mass from anyone: it keeps its previous parameters exactly.
    assert np.array_equal(published["groups.1.w"], base["groups.1.w"])
    _rejected(lambda: _upload(stub, good, site="site-a"), grpc.StatusCode.NOT_FOUND, "not open")


def test_finalize_below_quorum_publishes_nothing(aggregator):
    stub, core, registry, _ = aggregator
    _upload(stub, _vector(core.get(1).layout, 1, 1.0))
    _rejected(lambda: stub.FinalizeRound(apb.FinalizeRoundRequest(round_id=1, site_ids=["site-a", "site-b"],
                                                                  min_sites=2)),
              grpc.StatusCode.FAILED_PRECONDITION, "min-sites is 2")
    assert registry.versions() == [1]


def test_a_200_mb_model_passes_in_chunks(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    n = 50_000_000  # 200 MB of float32
    registry.publish({"big": np.zeros(n, dtype=np.float32)}, {"big": "global"}, parent_version=0, round_id=0,
                     model_config={})
    core = AggregatorCore(registry)
    server = GrpcServer(max_workers=4)
    server.add(aggregator_pb2_grpc.add_AggregatorServiceServicer_to_server, AggregatorServicer(core),
               ["fedads.v1.AggregatorService"])
    port = server.start("127.0.0.1:0", PLAIN)
    try:
        stub = aggregator_pb2_grpc.AggregatorServiceStub(channel(f"127.0.0.1:{port}", PLAIN))
        stub.OpenRound(apb.OpenRoundRequest(round_id=1, base_version=1, participants=[
            apb.RoundParticipant(site_id="site-a", upload_token_sha256=_sha("token-a"))]))
        vec = np.empty(n + 1, dtype=np.float32)
        vec[:n] = np.linspace(-2, 2, n, dtype=np.float32)
        vec[n] = 2.0  # the weight: published = base + vec / 2
        receipt = _upload(stub, vec)
        assert receipt.bytes_received == vec.nbytes
        resp = stub.FinalizeRound(apb.FinalizeRoundRequest(round_id=1, site_ids=["site-a"], min_sites=1))
        staging.commit(registry, 1, resp.sha256)
        _, published = registry.load(resp.version)
        np.testing.assert_allclose(published["big"][::997], vec[:n:997] / 2.0, rtol=1e-6)
    finally:
        server.stop(0)


def test_a_dropped_site_is_refused_and_its_update_leaves_the_sum(aggregator):
    stub, core, registry, base = aggregator
    layout = core.get(1).layout
    _upload(stub, _vector(layout, 1, 10.0))
    stub.DropParticipants(apb.DropParticipantsRequest(round_id=1, site_ids=["site-a"]))
    _rejected(lambda: _upload(stub, _vector(layout, 1, 10.0)), grpc.StatusCode.PERMISSION_DENIED,
              "dropped from round 1")
    other = _vector(layout, 2, 30.0)
    _upload(stub, other, site="site-b")
    resp = stub.FinalizeRound(apb.FinalizeRoundRequest(round_id=1, site_ids=["site-a", "site-b"], min_sites=1))
    assert list(resp.included_site_ids) == ["site-b"]
    assert staging.staged_manifest(registry, 1)["extras"]["weights"]["global"] == 30.0

