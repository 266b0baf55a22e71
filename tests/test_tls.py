"""mTLS on every link: certificates from enrolment, roles, revocation, and nothing readable on the wire."""
from __future__ import annotations

import json
import time

import grpc
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from fedads.runtime.pki import CertificateAuthority, Identity, PkiError, make_csr, new_key, serial_hex
from fedads.runtime.pki_cli import init_federation
from fedads.runtime.server import CHANNEL_OPTIONS
from fedads.runtime.site_auth import site_credentials
from fedads.runtime.tls import Transport, enrollment_channel
from fedads.v1 import admin_pb2, aggregator_pb2, aggregator_pb2_grpc, common_pb2
from fedads.v1 import admin_pb2_grpc, coordinator_pb2, coordinator_pb2_grpc, registry_pb2, registry_pb2_grpc
from privacy.secagg.keys import new_identity_key, public_bytes
from tests.catalogs import write_model_config


def _code(fn):
    try:
        fn()
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


# --- the CA ---

def test_signed_site_certificate_takes_its_name_from_the_token_not_the_request(tmp_path):
    ca = CertificateAuthority.create(tmp_path / "ca")
    key = new_key()
    cert = ca.sign_csr(make_csr("someone-else", key), "site-07")
    subject = {a.oid: a.value for a in cert.subject}
    assert subject[NameOID.COMMON_NAME] == "site-07" and subject[NameOID.ORGANIZATIONAL_UNIT_NAME] == "site"
    assert subject[NameOID.SERIAL_NUMBER] == serial_hex(cert)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    cert.verify_directly_issued_by(ca.cert)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [u._name for u in usage] == ["clientAuth"]  # a site certificate cannot serve


def test_a_csr_whose_signature_does_not_match_its_key_is_refused(tmp_path):
    ca = CertificateAuthority.create(tmp_path / "ca")
    good = bytearray(make_csr("site-01", new_key()))
    with pytest.raises(PkiError, match="PEM CSR|does not verify"):
        ca.sign_csr(b"-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----\n",
                    "site-01")
    from cryptography.hazmat.primitives import serialization

    csr = x509.load_pem_x509_csr(bytes(good))
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # corrupt the signature
    tampered = b"-----BEGIN CERTIFICATE REQUEST-----\n" + __import__("base64").encodebytes(bytes(der)) + \
        b"-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(PkiError):
        ca.sign_csr(tampered, "site-01")


def test_the_ca_is_never_silently_replaced_and_keys_are_private(tmp_path):
    made = init_federation(tmp_path / "pki")
    with pytest.raises(PkiError, match="refusing to replace"):
        CertificateAuthority.create(tmp_path / "pki" / "ca")
    assert (tmp_path / "pki" / "ca" / "ca.key").stat().st_mode & 0o077 == 0
    for folder in made.values():
        assert (folder / "tls.key").stat().st_mode & 0o077 == 0
        Identity.read(folder)


# --- a federation running mTLS ---

@pytest.fixture(scope="module")
def tls_federation(tmp_path_factory):
    from tests.helpers import Federation

    fed = Federation(tmp_path_factory.mktemp("tls"), n_sites=3, tls=True).start()
    info = json.loads(fed.ctl("--json", "start-round", "--wait", "--min-sites", "3").stdout)
    assert info["state"] == "COMPLETED", info
    yield fed
    fed.stop()


def _site_transport(fed, site_id: str) -> tuple[Transport, list]:
    folder = next(s for s in fed.sites if s.site_id == site_id).folder / "state"
    creds = json.loads((folder / "credentials.json").read_text())
    return Transport(Identity.read(folder / "tls")), site_credentials(site_id, creds["secret"])


def test_sites_enrol_with_a_certificate_and_the_round_completes_over_mtls(tls_federation):
    fed = tls_federation
    ca = x509.load_pem_x509_certificate((fed.workdir / "pki" / "ca" / "ca.crt").read_bytes())
    for s in fed.sites:
        cert = x509.load_pem_x509_certificate((s.folder / "state" / "tls" / "tls.crt").read_bytes())
        cert.verify_directly_issued_by(ca)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == s.site_id
    log = fed.ctl_json("audit", "--verify")
    enrolled = {r["body"]["payload"]["site"]: r["body"]["payload"]["certificate_serial"]
                for r in log if r["body"]["kind"] == "site_enrolled"}
    assert set(enrolled) == {s.site_id for s in fed.sites} and all(enrolled.values())


def test_a_caller_without_a_certificate_or_with_a_foreign_one_cannot_connect(tls_federation, tmp_path):
    fed = tls_federation
    ca_pem = (fed.workdir / "pki" / "ca" / "ca.crt").read_bytes()
    for address in (fed.coordinator, fed.aggregator):
        with grpc.secure_channel(address, grpc.ssl_channel_credentials(ca_pem)) as ch:
            code, _ = _code(lambda: registry_pb2_grpc.ModelRegistryServiceStub(ch).ListModels(
                common_pb2.Empty(), timeout=5))
            assert code == grpc.StatusCode.UNAVAILABLE  # the handshake itself fails
    foreign = init_federation(tmp_path / "foreign")
    with Transport.from_dir(foreign["operator"]).channel(fed.coordinator) as ch:
        code, _ = _code(lambda: registry_pb2_grpc.ModelRegistryServiceStub(ch).ListModels(
            common_pb2.Empty(), timeout=5))
        assert code == grpc.StatusCode.UNAVAILABLE
    with grpc.insecure_channel(fed.coordinator) as ch:  # plaintext to a TLS port
        code, _ = _code(lambda: registry_pb2_grpc.ModelRegistryServiceStub(ch).ListModels(
            common_pb2.Empty(), timeout=5))
        assert code == grpc.StatusCode.UNAVAILABLE


def test_each_certificate_role_reaches_only_its_own_services(tls_federation):
    fed = tls_federation
    site, md = _site_transport(fed, "site-01")
    with site.channel(fed.coordinator) as ch:
        code, details = _code(lambda: admin_pb2_grpc.AdminServiceStub(ch).GetStatus(common_pb2.Empty(), timeout=5))
        assert code == grpc.StatusCode.PERMISSION_DENIED and "site certificates" in details
        assert registry_pb2_grpc.ModelRegistryServiceStub(ch).ListModels(
            common_pb2.Empty(), metadata=md, timeout=5).models
    with site.channel(fed.aggregator) as ch:
        code, details = _code(lambda: aggregator_pb2_grpc.AggregatorServiceStub(ch).OpenRound(
            aggregator_pb2.OpenRoundRequest(round_id=99, base_version=1), timeout=5))
        assert code == grpc.StatusCode.PERMISSION_DENIED and "coordinator" in details
    with fed.transport.channel(fed.coordinator) as ch:  # the operator's certificate
        code, details = _code(lambda: next(coordinator_pb2_grpc.CoordinatorServiceStub(ch).Connect(
            coordinator_pb2.ConnectRequest(), metadata=md, timeout=5)))
        assert code == grpc.StatusCode.PERMISSION_DENIED and "operator" in details


def test_a_site_certificate_cannot_act_as_another_site(tls_federation):
    fed = tls_federation
    site1, _ = _site_transport(fed, "site-01")
    _, md2 = _site_transport(fed, "site-02")  # even holding site-02's secret
    with site1.channel(fed.coordinator) as ch:
        code, details = _code(lambda: coordinator_pb2_grpc.CoordinatorServiceStub(ch).ReportResult(
            coordinator_pb2.TaskResult(round_id=1), metadata=md2, timeout=5))
        assert code == grpc.StatusCode.PERMISSION_DENIED and "issued to site 'site-01'" in details
    with site1.channel(fed.aggregator) as ch:
        code, details = _code(lambda: aggregator_pb2_grpc.AggregatorServiceStub(ch).AdvertiseKeys(
            aggregator_pb2.AdvertiseKeysRequest(auth=aggregator_pb2.SiteAuth(round_id=1, site_id="site-02")),
            timeout=5))
        assert code == grpc.StatusCode.PERMISSION_DENIED and "site-02" in details


def test_the_enrolment_port_admits_only_enrolment_and_checks_it(tls_federation):
    fed = tls_federation
    ca_pem = (fed.workdir / "pki" / "ca" / "ca.crt").read_bytes()
    with enrollment_channel(fed.enroll_address, ca_pem, CHANNEL_OPTIONS) as ch:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(ch)
        code, details = _code(lambda: next(stub.Connect(coordinator_pb2.ConnectRequest(), timeout=5)))
        assert code == grpc.StatusCode.UNAUTHENTICATED and "client certificate" in details
        code, details = _code(lambda: admin_pb2_grpc.AdminServiceStub(ch).GetStatus(common_pb2.Empty(), timeout=5))
        assert code == grpc.StatusCode.UNAUTHENTICATED
        token = fed.ctl_json("enroll", "--site", "site-new")["enrollment_token"]
        request = coordinator_pb2.EnrollRequest(site_id="site-new", enrollment_token=token,
                                                identity_public_key=public_bytes(new_identity_key()))
        code, details = _code(lambda: stub.Enroll(request, timeout=5))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "certificate_signing_request" in details
        request.certificate_signing_request = make_csr("site-new", new_key())
        resp = stub.Enroll(request, timeout=5)
        assert resp.certificate and resp.ca_certificate == ca_pem
        code, details = _code(lambda: stub.Enroll(request, timeout=5))  # the token is spent
        assert code == grpc.StatusCode.UNAUTHENTICATED and "already used" in details


def test_a_superseded_certificate_is_refused_after_re_enrolment(tls_federation):
    fed = tls_federation
    ca_pem = (fed.workdir / "pki" / "ca" / "ca.crt").read_bytes()
    with enrollment_channel(fed.enroll_address, ca_pem, CHANNEL_OPTIONS) as ch:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(ch)
        first_key, second_key = new_key(), new_key()
        issued = []
        for key in (first_key, second_key):
            token = fed.ctl_json("enroll", "--site", "site-twice")["enrollment_token"]
            resp = stub.Enroll(coordinator_pb2.EnrollRequest(
                site_id="site-twice", enrollment_token=token, identity_public_key=public_bytes(new_identity_key()),
                certificate_signing_request=make_csr("site-twice", key)), timeout=5)
            issued.append((key, resp))
    from fedads.runtime.pki import key_pem

    old, new = (Transport(Identity(ca_pem, r.certificate, key_pem(k))) for k, r in issued)
    with old.channel(fed.coordinator) as ch:
        code, details = _code(lambda: registry_pb2_grpc.ModelRegistryServiceStub(ch).ListModels(
            common_pb2.Empty(), timeout=5))
        assert code == grpc.StatusCode.UNAUTHENTICATED and "superseded" in details
    with new.channel(fed.coordinator) as ch:
        assert registry_pb2_grpc.ModelRegistryServiceStub(ch).ListModels(common_pb2.Empty(), timeout=5).models


def test_revoking_a_site_refuses_its_next_connection_and_stops_its_agent(tls_federation):
    fed = tls_federation
    site, md = _site_transport(fed, "site-03")
    fed.ctl("revoke", "--site", "site-03")
    with site.channel(fed.coordinator) as ch:
        code, details = _code(lambda: registry_pb2_grpc.ModelRegistryServiceStub(ch).GetManifest(
            registry_pb2.GetManifestRequest(version=1), metadata=md, timeout=5))
        assert code == grpc.StatusCode.PERMISSION_DENIED and "revoked" in details
    agent = fed.agents["site-03"]
    assert agent.wait(30) == 1  # the agent stops with its reason instead of retrying forever
    assert "revoked" in (fed.workdir / "site-03.log").read_text()
    assert {c["site_id"]: c["revoked"] for c in fed.ctl_json("clients")}["site-03"] is True


def test_with_tls_nothing_on_the_wire_is_readable(federation_factory):
    fed = federation_factory(n_sites=3, proxy=True, tls=True).start()
    info = json.loads(fed.ctl("--json", "start-round", "--wait", "--min-sites", "3").stdout)
    assert info["state"] == "COMPLETED"
    for proxy in (fed.coord_proxy, fed.agg_proxy):
        wire = proxy.bytes()
        assert len(wire) > 10_000 and wire[0] == 0x16  # a TLS handshake record opens every connection
        for s in fed.sites:
            assert s.site_id.encode() not in wire
        assert b"fedads" not in wire and b"upload_token" not in wire and b"PRI * HTTP/2.0" not in wire


def test_probes_reach_a_plaintext_health_only_endpoint_while_the_service_port_demands_mtls(tmp_path):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from coordinator.main import build_parser, build_server
    from deploy.processes import free_port

    pki = init_federation(tmp_path / "pki")
    model_args = write_model_config(tmp_path / "model", n_ads=20, dim=8, ffn_hidden=8, max_seq_len=5)
    health = f"127.0.0.1:{free_port()}"
    coord = build_server(build_parser().parse_args([
        "--listen", "127.0.0.1:0", "--enroll-listen", "127.0.0.1:0", "--db", str(tmp_path / "c.db"),
        "--registry", str(tmp_path / "registry"), *model_args,
        "--audit-key", str(tmp_path / "audit.key"), "--admin-token-file", str(tmp_path / "admin.token"),
        "--tls-dir", str(pki["coordinator"]), "--ca-dir", str(tmp_path / "pki" / "ca"), "--health-listen", health,
        "--aggregator", f"127.0.0.1:{free_port()}"]))  # nothing listens there
    try:
        with grpc.insecure_channel(health) as ch:
            # The probe reaches the coordinator's health, which reports its missing aggregator.
            deadline = time.time() + 30
            while health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5).status != \
                    health_pb2.HealthCheckResponse.NOT_SERVING:
                assert time.time() < deadline, "coordinator without its aggregator still reports SERVING"
                time.sleep(0.1)
            code, _ = _code(lambda: registry_pb2_grpc.ModelRegistryServiceStub(ch).ListModels(
                common_pb2.Empty(), timeout=5))
            assert code == grpc.StatusCode.UNIMPLEMENTED  # nothing but health is served in plaintext
        with grpc.insecure_channel(f"127.0.0.1:{coord.port}") as ch:
            code, _ = _code(lambda: health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5))
            assert code == grpc.StatusCode.UNAVAILABLE
        with Transport.from_dir(pki["operator"]).channel(f"127.0.0.1:{coord.port}") as ch:
            assert [m.version for m in registry_pb2_grpc.ModelRegistryServiceStub(ch).ListModels(
                common_pb2.Empty(), timeout=5).models] == [1]
    finally:
        coord.stop(0)


def test_fedads_pki_cli_initialises_issues_and_shows(tmp_path):
    from deploy.processes import REPO_ROOT, child_env
    import subprocess
    import sys

    def pki(*args):
        return subprocess.run([sys.executable, "-m", "fedads.runtime.pki_cli", *args], capture_output=True, text=True,
                              env=child_env(), cwd=REPO_ROOT)

    assert pki("init", "--dir", str(tmp_path / "pki"), "--san", "coordinator.example").returncode == 0
    shown = pki("show", str(tmp_path / "pki" / "coordinator")).stdout
    assert "CN=coordinator" in shown and "coordinator.example" in shown and "127.0.0.1" in shown
    res = pki("issue", "--dir", str(tmp_path / "pki"), "--name", "adserver-7", "--role", "client")
    assert res.returncode == 0
    cert = x509.load_pem_x509_certificate((tmp_path / "pki" / "adserver-7" / "tls.crt").read_bytes())
    cert.verify_directly_issued_by(CertificateAuthority.load(tmp_path / "pki" / "ca").cert)
    again = pki("init", "--dir", str(tmp_path / "pki"))
    assert again.returncode == 1 and len(again.stderr.strip().splitlines()) == 1 and "refusing" in again.stderr
