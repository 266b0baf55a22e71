"""Every RPC fuzzed with hypothesis: malformed messages and chunk streams get a clear status, never a
crash, and leave rounds, sites, models and the audit log as they were."""
from __future__ import annotations

import json

import grpc
import numpy as np
import pytest
from google.protobuf.descriptor import FieldDescriptor as F
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.service import AggregatorCore, AggregatorServicer
from coordinator.admin_auth import admin_channel
from coordinator.audit import verify
from coordinator.main import build_parser, build_server
from fedads.runtime.site_auth import site_credentials
from fedads.runtime.hashing import sha256_hex
from fedads.runtime.registry import ModelRegistry
from fedads.runtime.server import GrpcServer, channel
from fedads.v1 import (admin_pb2_grpc, aggregator_pb2, aggregator_pb2_grpc, coordinator_pb2_grpc, registry_pb2_grpc,
                       serving_pb2_grpc)
from fedads.v1 import admin_pb2, coordinator_pb2, registry_pb2, serving_pb2
from serving.main import build_parser as serving_parser
from serving.main import build_server as serving_server
from fedads.runtime.tls import Transport
from tests.catalogs import write_model_config

PLAIN = Transport.insecure()  # these runs measure or fuzz the services, not TLS

CLEAR = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAUTHENTICATED,
         grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS}

SCALARS = {
    F.TYPE_STRING: st.text(max_size=12), F.TYPE_BYTES: st.binary(max_size=80), F.TYPE_BOOL: st.booleans(),
    F.TYPE_INT32: st.integers(-2**31, 2**31 - 1), F.TYPE_INT64: st.integers(-2**40, 2**40),
    F.TYPE_DOUBLE: st.floats(allow_nan=True, allow_infinity=True), F.TYPE_FLOAT: st.floats(width=32),
    F.TYPE_ENUM: st.integers(0, 4),
}


def message(cls, depth: int = 0):
    fields = {}
    for f in cls.DESCRIPTOR.fields:
        if f.type == F.TYPE_MESSAGE:
            if depth >= 2 or f.message_type.GetOptions().map_entry:
                continue
            strat = message(GetMessageClass(f.message_type), depth + 1)
        else:
            strat = SCALARS[f.type]
        fields[f.name] = st.lists(strat, max_size=3) if f.is_repeated else strat
    return st.fixed_dictionaries({}, optional=fields).map(lambda kw: cls(**kw))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    model_args = write_model_config(tmp / "model", n_ads=30, dim=8, ffn_hidden=8, max_seq_len=5)
    agg = GrpcServer(max_workers=16)
    agg.add(aggregator_pb2_grpc.add_AggregatorServiceServicer_to_server,
            AggregatorServicer(AggregatorCore(ModelRegistry(tmp / "registry"))), ["fedads.v1.AggregatorService"])
    agg_port = agg.start("127.0.0.1:0", PLAIN)
    coord = build_server(build_parser().parse_args([
        "--listen", "127.0.0.1:0", "--db", str(tmp / "c.db"), "--registry", str(tmp / "registry"), "--aggregator",
        f"127.0.0.1:{agg_port}", *model_args, "--audit-key", str(tmp / "audit.key"),
        "--admin-token-file", str(tmp / "admin.token"), "--insecure"]))
    serve = serving_server(serving_parser().parse_args(["--listen", "127.0.0.1:0", "--registry",
                                                        str(tmp / "registry"), "--poll-s", "3600", "--insecure"]))
    token = (tmp / "admin.token").read_text().strip()
    ch = channel(f"127.0.0.1:{coord.port}", PLAIN)
    # A real enrolled site and a real open secure round, so fuzzed calls also get past authentication.
    admin = admin_pb2_grpc.AdminServiceStub(admin_channel(ch, token))
    enrol = admin.CreateEnrollment(admin_pb2.CreateEnrollmentRequest(site_id="site-f")).enrollment_token
    secret = coordinator_pb2_grpc.CoordinatorServiceStub(ch).Enroll(coordinator_pb2.EnrollRequest(
        site_id="site-f", enrollment_token=enrol, identity_public_key=bytes(32))).site_secret
    aggregator_pb2_grpc.AggregatorServiceStub(channel(f"127.0.0.1:{agg_port}", PLAIN)).OpenRound(
        aggregator_pb2.OpenRoundRequest(round_id=77, base_version=1, secure_aggregation=True, stage_deadline_s=1,
                                        participants=[aggregator_pb2.RoundParticipant(
                                            site_id=s, upload_token_sha256=sha256_hex(b"tok-" + s.encode()))
                                            for s in ("site-f", "site-g")]))
    stubs = {
        "coordinator": coordinator_pb2_grpc.CoordinatorServiceStub(ch),
        "admin": admin_pb2_grpc.AdminServiceStub(admin_channel(ch, token)),
        "registry": registry_pb2_grpc.ModelRegistryServiceStub(ch),
        "aggregator": aggregator_pb2_grpc.AggregatorServiceStub(channel(f"127.0.0.1:{agg_port}", PLAIN)),
        "serving": serving_pb2_grpc.ServingServiceStub(channel(f"127.0.0.1:{serve.port}", PLAIN)),
    }
    global SITE_METADATA
    SITE_METADATA = site_credentials("site-f", secret)
    yield stubs, coord, tmp
    serve.stop_watch.set()
    for s in (serve, coord, agg):
        s.stop(0)


def snapshot(coord, tmp):
    store = coord.store
    sites = [(s["site_id"], s["revoked"], s["num_samples"]) for s in store.sites()]
    return (json.dumps(store.rounds(), default=str), sites, store.models(), ModelRegistry(tmp / "registry").versions())


SITE_METADATA: list = []


def call(stub, method, request, streaming_request=False, metadata=None):
    fn = getattr(stub, method)
    try:
        result = fn(iter(request) if streaming_request else request, timeout=5, metadata=metadata)
        if hasattr(result, "__iter__") and not hasattr(result, "SerializeToString"):
            list(result)
    except grpc.RpcError as exc:
        assert exc.code() in CLEAR, f"{method}: {exc.code()} {exc.details()}"
        assert exc.details(), f"{method}: status without a message"


UNARY = [
    ("coordinator", "Enroll", coordinator_pb2.EnrollRequest),
    ("coordinator", "ReportResult", coordinator_pb2.TaskResult),
    ("coordinator", "Connect", coordinator_pb2.ConnectRequest),
    ("admin", "StartRound", admin_pb2.StartRoundRequest),
    ("admin", "GetRound", admin_pb2.GetRoundRequest),
    ("admin", "RevokeClient", admin_pb2.RevokeClientRequest),
    ("registry", "GetManifest", registry_pb2.GetManifestRequest),
    ("registry", "DownloadModel", registry_pb2.DownloadModelRequest),
    ("aggregator", "OpenRound", aggregator_pb2.OpenRoundRequest),
    ("aggregator", "FinalizeRound", aggregator_pb2.FinalizeRoundRequest),
    ("aggregator", "AdvertiseKeys", aggregator_pb2.AdvertiseKeysRequest),
    ("aggregator", "ShareKeys", aggregator_pb2.ShareKeysRequest),
    ("aggregator", "Unmask", aggregator_pb2.UnmaskRequest),
    ("aggregator", "RevealShares", aggregator_pb2.RevealSharesRequest),
    ("aggregator", "DropParticipants", aggregator_pb2.DropParticipantsRequest),
    ("serving", "Predict", serving_pb2.PredictRequest),
    ("serving", "Rank", serving_pb2.RankRequest),
]


@pytest.mark.parametrize("service,method,cls", UNARY, ids=[m for _, m, _ in UNARY])
def test_unary_rpcs_survive_malformed_messages(stack, service, method, cls):
    stubs, coord, tmp = stack
    before = snapshot(coord, tmp)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(message(cls), st.booleans())
    def run(req, authentic):
        if method == "OpenRound" and req.base_version == 1 and req.round_id > 0 and req.participants:
            req.base_version = 999  # opening a real round is legitimate, not malformed
        if authentic and "auth" in cls.DESCRIPTOR.fields_by_name:
            req.auth.round_id, req.auth.site_id, req.auth.upload_token = 77, "site-f", "tok-site-f"
        if method in ("Connect", "Unmask") and authentic:
            return  # authentic long-polls (the task stream, waiting for unmasking) are not malformed calls
        call(stubs[service], method, req, metadata=SITE_METADATA if authentic and service == "coordinator" else None)
    run()
    assert snapshot(coord, tmp) == before
    assert verify(coord.rounds.audit.records(), coord.rounds.audit.key.public_key().public_bytes_raw().hex())[0]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(message(aggregator_pb2.UpdateChunk), st.binary(max_size=64).map(
    lambda b: aggregator_pb2.UpdateChunk(data=b))), max_size=6))
def test_upload_streams_survive_malformed_chunks(stack, chunks):
    stubs, coord, tmp = stack
    before = snapshot(coord, tmp)
    call(stubs["aggregator"], "UploadUpdate", chunks, streaming_request=True)
    call(stubs["serving"], "RecordEvents", [serving_pb2.BehaviorEvent(user_id=str(c.data[:3]), ad_id=f"ad-{len(c.data) - 5}")
                                            for c in chunks], streaming_request=True)
    assert snapshot(coord, tmp) == before


def test_raw_garbage_bytes_do_not_take_a_server_down(stack):
    stubs, coord, tmp = stack
    ch = channel(f"127.0.0.1:{coord.port}", PLAIN)
    raw = ch.unary_unary("/fedads.v1.CoordinatorService/ReportResult", request_serializer=lambda b: b,
                         response_deserializer=lambda b: b)
    rng = np.random.default_rng(0)
    for _ in range(20):
        with pytest.raises(grpc.RpcError):
            raw(rng.bytes(int(rng.integers(1, 200))), timeout=5)
    assert stubs["registry"].GetManifest(registry_pb2.GetManifestRequest(), timeout=5).version == 1
