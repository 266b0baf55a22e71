"""`coordinator`: the FedAds coordinator service."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from coordinator.admin_auth import AdminTokenCheck, load_or_create_token
from coordinator.admin_service import AdminServicer
from coordinator.audit import AuditLog, load_or_create_key
from coordinator.lease import CoordinatorLeaseHandle, LeaseHeld
from coordinator.publication import AuditGap, Publisher
from coordinator.aggregator_client import AggregatorClient
from coordinator.catalog_setup import CatalogSetupError, import_catalog, publish_for_catalog
from coordinator.jobs import JobRunner
from coordinator.rounds import RoundManager
from coordinator.status_metrics import register_status_metrics
from coordinator.site_hub import SiteHub
from coordinator.site_service import CoordinatorServicer
from coordinator.store import CoordinatorStore, StoreError, sqlite_url
from fedads.runtime import cli
from fedads.runtime.dependency_health import DependencyWatch
from fedads.runtime.logs import setup_logging
from fedads.runtime.pki import CertificateAuthority, PkiError
from fedads.runtime.status_codes import code_for
from fedads.runtime.tls import PeerAuthorization, TransportError, add_tls_flags, transport_from_args
from fedads.runtime.registry import ModelRegistry
from fedads.runtime.registry_service import ModelRegistryServicer
from fedads.runtime.server import (BindError, GrpcServer, add_health_flags, add_metrics_flags, add_rpc_threads_flag,
                                   check_bindable, start_metrics_server)
from fedads.v1 import admin_pb2_grpc, coordinator_pb2_grpc, registry_pb2_grpc

log = logging.getLogger("coordinator")


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser("coordinator", "Run the FedAds coordinator (rounds, sites, registry).")
    p.add_argument("--listen", default="127.0.0.1:7000", help="gRPC listen address (host:port)")
    p.add_argument("--db", default="sqlite:///coordinator.db",
                   help="SQLAlchemy URL or a SQLite file path")
    p.add_argument("--registry", default="registry", help="model registry folder shared with the aggregator")
    p.add_argument("--aggregator", default="127.0.0.1:7100", help="aggregator address used by the coordinator")
    p.add_argument("--aggregator-public", default="",
                   help="aggregator address handed to sites (empty: same as --aggregator)")
    p.add_argument("--catalog", type=Path, default=None,
                   help="catalogue folder (fedads-catalog build); imported into the registry when new, and the "
                        "newest model grown to it")
    p.add_argument("--init-model", type=Path, default=None,
                   help="model architecture JSON (no sizes: they come from the catalogue); publishes version 1 "
                        "when the registry is empty")
    p.add_argument("--init-seed", type=int, default=0, help="seed of the initial model's parameters")
    p.add_argument("--admin-token-file", default="admin.token",
                   help="bearer token the operator API requires (created if missing, mode 0600)")
    p.add_argument("--audit-key", default="audit.key",
                   help="Ed25519 key signing the round log (created if missing)")
    p.add_argument("--audit-public-out", default="",
                   help="where the audit public key is written, for serving's --audit-public-key and for "
                        "auditors (default: <audit-key>.pub)")
    p.add_argument("--enroll-listen", default="127.0.0.1:7001",
                   help="server-authenticated TLS port where sites without a certificate enrol (TLS only)")
    p.add_argument("--ca-dir", default="pki/ca",
                   help="federation CA (ca.crt, ca.key) that signs site certificates at enrolment (TLS only)")
    p.add_argument("--reconnect-grace-s", type=float, default=5.0,
                   help="seconds a participant may be disconnected before it counts as dropped")
    add_metrics_flags(p)
    add_health_flags(p)
    add_rpc_threads_flag(p)
    add_tls_flags(p)
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    return p


# Which certificate roles may use which service on the coordinator's mTLS port.
SERVICE_ROLES = {
    "fedads.v1.CoordinatorService": {"site"},
    "fedads.v1.AdminService": {"operator"},
    "fedads.v1.ModelRegistryService": {"site", "operator", "serving", "aggregator"},
}
OPEN_METHODS = frozenset({"/fedads.v1.CoordinatorService/Enroll", "/grpc.health.v1.Health/Check"})


def site_certificate_check(store: CoordinatorStore):
    """Refuse a site certificate that is revoked or superseded: revocation takes effect on the next call."""
    def check(peer):
        if peer.role != "site":
            return None
        try:
            store.check_certificate(peer.name, peer.serial)
        except StoreError as exc:
            return code_for(exc.kind), str(exc)
        return None
    return check


def build_server(args) -> GrpcServer:
    """Wire store, registry, hub, rounds and servicers into a started gRPC server."""
    transport = transport_from_args(args)
    if args.init_model and not args.init_model.is_file():  # before the database is created
        raise PkiError(f"--init-model {args.init_model}: no such file (the shipped one is "
                       "deploy/config/model_config.json)")
    ca = CertificateAuthority.load(args.ca_dir) if transport.secure else None
    # Catalogue and first model before the database: a bad --catalog or --init-model leaves nothing behind.
    registry = ModelRegistry(args.registry)
    import_catalog(registry, args.catalog, args.init_model)
    url = args.db if "://" in args.db else sqlite_url(args.db)
    # Ports first: a second coordinator started by mistake must stop before it opens a database or a registry.
    enroll = args.enroll_listen if transport.secure else ""
    for address, what in ((args.listen, "gRPC server"), (enroll, "enrolment port"),
                          (args.health_listen, "health endpoint")):
        if address:
            check_bindable(address, what)
    store = CoordinatorStore(url)
    # Before anything touches rounds: a second coordinator on this database must not fail the first one's round.
    lease = CoordinatorLeaseHandle(store, args.listen)
    lease.acquire()
    try:
        return _build_server(args, transport, ca, url, store, lease, registry)
    except BaseException:
        lease.release()
        raise


def _build_server(args, transport, ca, url, store, lease, registry) -> GrpcServer:
    audit = AuditLog(store, load_or_create_key(Path(args.audit_key), audit_public_path(args)))
    publisher = Publisher(store, registry, audit)
    publisher.check_head()  # before anything appends to a log that may have been cut
    recovery = publisher.recover()
    # A first model only into a federation that never had one (an emptied registry is not refilled from scratch).
    first = args.init_model if not store.latest_model_version() else None
    publish_for_catalog(registry, publisher.publish_initial, first, args.init_seed)
    completed = store.complete_published_rounds("coordinator restarted during evaluation")
    for rid in completed:
        audit.append("round_completed", rid, version=store.round(rid)["result_version"],
                     evaluation_error="coordinator restarted during evaluation")
    failed = store.fail_interrupted_rounds("coordinator restarted while the round was running")
    if failed:
        log.warning("failed interrupted rounds", extra={"rounds": failed})
    for rid in failed:
        audit.append("round_failed", rid, reason="coordinator restarted while the round was running")
    hub = SiteHub()
    aggregator = AggregatorClient(args.aggregator, registry, transport)
    for rid in failed:  # the aggregator may still hold the round's uploads: drop them
        try:
            aggregator.abort_round(rid, "coordinator restarted while the round was running")
        except Exception:  # noqa: BLE001 - an aggregator that restarted too holds nothing
            log.warning("could not abort interrupted round on the aggregator", extra={"round_id": rid})
    rounds = RoundManager(store, hub, aggregator, args.aggregator_public or args.aggregator,
                          reconnect_grace_s=args.reconnect_grace_s, audit=audit, publisher=publisher)
    job_runner = JobRunner(store, rounds, audit)
    interceptors = [AdminTokenCheck(load_or_create_token(args.admin_token_file))]
    if transport.secure:
        interceptors.insert(0, PeerAuthorization(SERVICE_ROLES, site_certificate_check(store), OPEN_METHODS))
    server = GrpcServer(max_workers=args.rpc_threads, interceptors=interceptors)
    server.add(coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server,
               CoordinatorServicer(store, hub, rounds, ca), ["fedads.v1.CoordinatorService"])
    server.add(admin_pb2_grpc.add_AdminServiceServicer_to_server,
               AdminServicer(store, hub, rounds, audit, ca.ca_pem if ca else b"", job_runner),
               ["fedads.v1.AdminService"])
    server.add(registry_pb2_grpc.add_ModelRegistryServiceServicer_to_server, ModelRegistryServicer(registry),
               ["fedads.v1.ModelRegistryService"])
    server.start(args.listen, transport, args.enroll_listen)
    server.start_health_endpoint(args.health_listen)
    server.store, server.rounds, server.jobs = store, rounds, job_runner
    register_status_metrics(store, job_runner.jobs)
    server.lease, server.recovery = lease, recovery
    # A coordinator whose lease was taken over must stop serving: another one now owns the database.
    lease.keep_renewed(server.request_stop)
    # The coordinator cannot run a round without its aggregator or its database: health says so.
    server.dependencies = DependencyWatch(server, [("aggregator", aggregator.healthy),
                                                   ("database", store.ping)]).start()
    server.on_stop(lease.release)
    log.info("coordinator listening", extra={"port": server.port, "enrollment_port": server.enrollment_port,
                                             "tls": transport.secure, "db": url.split("@")[-1],
                                             "writes": {"db": url.split("@")[-1],
                                                        "registry": str(Path(args.registry).resolve()),
                                                        "admin_token": str(Path(args.admin_token_file).resolve()),
                                                        "audit_key": str(Path(args.audit_key).resolve()),
                                                        "audit_public_key": str(audit_public_path(args).resolve())}})
    return server


def audit_public_path(args) -> Path:
    return Path(args.audit_public_out) if args.audit_public_out else Path(args.audit_key).with_suffix(".pub")


def main(argv=None) -> int:
    return cli.run("coordinator", lambda: _main(argv))


def _main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging("coordinator", args.log_level)
    try:
        server = build_server(args)
    except (TransportError, PkiError, BindError, LeaseHeld, AuditGap, CatalogSetupError) as exc:
        parser.exit(2, f"coordinator: {exc}\n")
    start_metrics_server(args.metrics_port, args.metrics_host)
    resumed = server.jobs.resume()  # after the server is up, so resumed rounds reach connecting sites
    if resumed:
        log.info("resumed jobs", extra={"jobs": resumed})
    server.wait_for_signal()
    return 0


if __name__ == "__main__":
    sys.exit(main())
