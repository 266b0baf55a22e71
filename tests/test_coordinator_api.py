"""Coordinator site and admin APIs over real gRPC: authentication, enrolment, refusals that change nothing."""
from __future__ import annotations

import threading

import grpc
import pytest

from aggregator.service import AggregatorCore, AggregatorServicer
from coordinator.admin_auth import admin_channel
from coordinator.main import build_parser, build_server
from fedads.runtime.site_auth import site_credentials
from fedads.runtime.registry import ModelRegistry
from fedads.runtime.server import GrpcServer, channel
from fedads.v1 import admin_pb2 as pb
from fedads.v1 import admin_pb2_grpc, aggregator_pb2_grpc, common_pb2, coordinator_pb2_grpc
from fedads.v1 import coordinator_pb2 as cpb
from fedads.runtime.tls import Transport
from tests.catalogs import write_model_config

PLAIN = Transport.insecure()  # these runs measure or fuzz the services, not TLS


@pytest.fixture
def services(tmp_path):
    model_args = write_model_config(tmp_path / "model", n_ads=20, dim=8, ffn_hidden=8, max_seq_len=5)
    agg = GrpcServer(max_workers=8)
    agg.add(aggregator_pb2_grpc.add_AggregatorServiceServicer_to_server,
            AggregatorServicer(AggregatorCore(ModelRegistry(tmp_path / "registry"))), ["fedads.v1.AggregatorService"])
    agg_port = agg.start("127.0.0.1:0", PLAIN)
    args = build_parser().parse_args(["--listen", "127.0.0.1:0", "--db", str(tmp_path / "c.db"), "--registry",
                                      str(tmp_path / "registry"), "--aggregator", f"127.0.0.1:{agg_port}",
                                      *model_args, "--audit-key",
                                      str(tmp_path / "audit.key"), "--admin-token-file", str(tmp_path / "admin.token"), "--insecure"])
    coord = build_server(args)
    ch = channel(f"127.0.0.1:{coord.port}", PLAIN)
    token = (tmp_path / "admin.token").read_text().strip()
    yield (coordinator_pb2_grpc.CoordinatorServiceStub(ch), admin_pb2_grpc.AdminServiceStub(admin_channel(ch, token)),
           coord)
    coord.stop(0)
    agg.stop(0)


KEY = bytes(range(32))  # stands in for a site's Ed25519 public key


def _code(fn):
    with pytest.raises(grpc.RpcError) as err:
        fn()
    return err.value.code(), err.value.details()


def test_enrolment_is_one_time_and_credentials_are_checked(services):
    sites, admin, coord = services
    token = admin.CreateEnrollment(pb.CreateEnrollmentRequest(site_id="site-x")).enrollment_token
    assert _code(lambda: sites.Enroll(cpb.EnrollRequest(site_id="site-x", enrollment_token="guess",
                                                        identity_public_key=KEY)))[0] == grpc.StatusCode.UNAUTHENTICATED
    code, details = _code(lambda: sites.Enroll(cpb.EnrollRequest(site_id="site-x", enrollment_token=token)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "identity_public_key" in details
    secret = sites.Enroll(cpb.EnrollRequest(site_id="site-x", enrollment_token=token,
                                            identity_public_key=KEY)).site_secret
    code, details = _code(lambda: sites.Enroll(cpb.EnrollRequest(site_id="site-x", enrollment_token=token,
                                                                 identity_public_key=KEY)))
    assert code == grpc.StatusCode.UNAUTHENTICATED and "already used" in details
    assert _code(lambda: admin.CreateEnrollment(pb.CreateEnrollmentRequest(site_id="bad id!")))[0] == \
        grpc.StatusCode.INVALID_ARGUMENT

    result = cpb.TaskResult(round_id=1, kind=cpb.TASK_KIND_TRAIN, ok=True, num_samples=5, upload_sha256="a" * 64)
    code, details = _code(lambda: sites.ReportResult(result))
    assert code == grpc.StatusCode.UNAUTHENTICATED and "metadata" in details
    code, _ = _code(lambda: sites.ReportResult(result, metadata=site_credentials("site-x", "wrong")))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    code, _ = _code(lambda: sites.ReportResult(result, metadata=site_credentials("nobody", secret)))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    code, details = _code(lambda: sites.ReportResult(result, metadata=site_credentials("site-x", secret)))
    assert code == grpc.StatusCode.NOT_FOUND and "round 1" in details

    admin.RevokeClient(pb.RevokeClientRequest(site_id="site-x"))
    code, details = _code(lambda: next(sites.Connect(cpb.ConnectRequest(),
                                                     metadata=site_credentials("site-x", secret))))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert [c.revoked for c in admin.ListClients(common_pb2.Empty()).clients] == [True]


def test_start_round_refusals_leave_no_round_behind(services):
    sites, admin, coord = services
    code, details = _code(lambda: admin.StartRound(pb.StartRoundRequest(config=pb.RoundConfig(min_sites=1))))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "0 sites online" in details
    code, details = _code(lambda: admin.StartRound(pb.StartRoundRequest(config=pb.RoundConfig(learning_rate=-1))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "learning rate" in details
    code, details = _code(lambda: admin.StartRound(pb.StartRoundRequest(config=pb.RoundConfig(private_lr_scale=-1))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "private lr scale" in details
    code, details = _code(lambda: admin.StartRound(pb.StartRoundRequest(config=pb.RoundConfig(server_momentum=1.0))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "server momentum" in details
    code, details = _code(lambda: admin.StartRound(pb.StartRoundRequest(config=pb.RoundConfig(local_steps=-3))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "local steps" in details
    code, details = _code(lambda: admin.StartRound(pb.StartRoundRequest(config=pb.RoundConfig(sites=1, min_sites=2))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "min-sites" in details
    assert list(admin.ListRounds(pb.ListRoundsRequest()).rounds) == []
    assert admin.GetStatus(common_pb2.Empty()).latest_version == 1


def test_results_from_non_participants_and_wrong_stages_are_refused(services):
    sites, admin, coord = services
    creds = {}
    for name in ("site-a", "site-b"):
        token = admin.CreateEnrollment(pb.CreateEnrollmentRequest(site_id=name)).enrollment_token
        creds[name] = site_credentials(name, sites.Enroll(cpb.EnrollRequest(
            site_id=name, enrollment_token=token, identity_public_key=KEY)).site_secret)
    stream = sites.Connect(cpb.ConnectRequest(), metadata=creds["site-a"])
    tasks = []
    reader = threading.Thread(target=lambda: tasks.extend([next(stream)]), daemon=True)
    reader.start()
    for _ in range(50):
        if admin.GetStatus(common_pb2.Empty()).sites_online == 1:
            break
        threading.Event().wait(0.1)
    code, details = _code(lambda: admin.StartRound(pb.StartRoundRequest(config=pb.RoundConfig(min_sites=1))))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "secure aggregation needs at least 2 sites" in details
    info = admin.StartRound(pb.StartRoundRequest(config=pb.RoundConfig(min_sites=1, train_deadline_s=30,
                                                                       plain_aggregation=True, local_steps=7)))
    reader.join(10)
    assert tasks and tasks[0].kind == cpb.TASK_KIND_TRAIN and tasks[0].round_id == info.round_id
    assert tasks[0].train.local_steps == 7  # the operator's step cap reaches the site

    def report(site, **kw):
        fields = dict(round_id=info.round_id, kind=cpb.TASK_KIND_TRAIN, ok=True, num_samples=3,
                      upload_sha256="b" * 64)
        fields.update(kw)
        return sites.ReportResult(cpb.TaskResult(**fields), metadata=creds[site])

    assert _code(lambda: report("site-b"))[0] == grpc.StatusCode.PERMISSION_DENIED
    assert _code(lambda: report("site-a", kind=cpb.TASK_KIND_EVALUATE))[0] == grpc.StatusCode.FAILED_PRECONDITION
    assert _code(lambda: report("site-a", num_samples=0))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: report("site-a", kind=cpb.TASK_KIND_UNSPECIFIED))[0] == grpc.StatusCode.INVALID_ARGUMENT
    part = coord.store.participant(info.round_id, "site-a")
    assert part["state"] == "SELECTED" and part["upload_sha256"] == ""
    stream.cancel()


def test_operator_api_requires_the_admin_token(services, tmp_path):
    sites, admin, coord = services
    ch = channel(f"127.0.0.1:{coord.port}", PLAIN)
    for stub in (admin_pb2_grpc.AdminServiceStub(ch), admin_pb2_grpc.AdminServiceStub(admin_channel(ch, "guess"))):
        code, details = _code(lambda: stub.StartRound(pb.StartRoundRequest(config=pb.RoundConfig(min_sites=2))))
        assert code == grpc.StatusCode.UNAUTHENTICATED and "admin token" in details
        code, _ = _code(lambda: list(stub.ExportAudit(pb.ExportAuditRequest())))
        assert code == grpc.StatusCode.UNAUTHENTICATED
        code, _ = _code(lambda: stub.CreateEnrollment(pb.CreateEnrollmentRequest(site_id="intruder")))
        assert code == grpc.StatusCode.UNAUTHENTICATED
    assert [c.site_id for c in admin.ListClients(common_pb2.Empty()).clients] == []
    assert (tmp_path / "admin.token").stat().st_mode & 0o077 == 0
