"""`serving`: gRPC inference on the published FedAds models."""
from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path

import torch

from fedads.runtime import cli
from fedads.runtime.dependency_health import DependencyWatch
from fedads.runtime.logs import setup_logging
from fedads.runtime.manifest_signing import ManifestRejected, ModelTrust
from fedads.runtime.registry import ModelRegistry, RegistryError
from fedads.runtime.server import BindError, GrpcServer, add_health_flags, add_metrics_flags, start_metrics_server
from fedads.runtime.tls import PeerAuthorization, TransportError, add_tls_flags, transport_from_args
from fedads.v1 import serving_pb2_grpc
from serving.batcher import MicroBatcher
from serving.behavior_store import DEFAULT_MAX_USERS, open_store
from serving.model_holder import ModelHolder, NoIntactVersion
from serving.request_metrics import RequestOutcomes
from serving.service import ServingServicer
from serving.site_mode import SitePrivateParameters

log = logging.getLogger("serving")


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser("serving", "Serve FedAds models over gRPC (Predict, Rank, RecordEvents).")
    p.add_argument("--listen", default="127.0.0.1:7200", help="gRPC listen address (host:port)")
    p.add_argument("--registry", default="registry", help="model registry folder")
    p.add_argument("--model-version", type=int, default=0, help="pin a version (0: newest, hot-swapped)")
    p.add_argument("--audit-public-key", default="",
                   help="the coordinator's audit key (hex, or a file such as audit.pub): serve only versions it "
                        "signed, never one from an older log (default: no check; set it in production)")
    p.add_argument("--poll-s", type=float, default=2.0, help="seconds between checks for a new version")
    p.add_argument("--redis-url", default="", help="redis://host:port/db for behaviour sequences "
                                                   "(empty: in-process store)")
    p.add_argument("--max-seq-len", type=int, default=50, help="behaviour events kept per user")
    p.add_argument("--ttl-s", type=float, default=7 * 86400, help="forget a user after this long without events")
    p.add_argument("--max-users", type=int, default=DEFAULT_MAX_USERS,
                   help="in-process store: users kept, least recently active forgotten first (Redis: maxmemory)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads per request")
    p.add_argument("--workers", type=int, default=8, help="gRPC worker threads")
    p.add_argument("--max-batch", type=int, default=32, help="most requests scored in one forward pass")
    p.add_argument("--site-state", default="",
                   help="site mode: a client-agent state folder whose private parameters serve that site's users")
    p.add_argument("--site-data", default="",
                   help="site mode, for a model that reads user features: the site's data folder (data.toml)")
    add_metrics_flags(p)
    add_health_flags(p)
    add_tls_flags(p)
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    return p


# Inference is for the partner's ad servers (client certificates) and operators.
SERVICE_ROLES = {"fedads.v1.ServingService": {"client", "operator"}}


def model_trust(key: str) -> ModelTrust | None:
    if not key:
        return None
    return ModelTrust(Path(key).read_text() if Path(key).is_file() else key)


def build_server(args) -> GrpcServer:
    transport = transport_from_args(args)
    torch.set_num_threads(args.threads)
    holder = ModelHolder(ModelRegistry(args.registry), args.model_version, trust=model_trust(args.audit_public_key))
    store = open_store(args.redis_url, args.max_seq_len, args.ttl_s, args.max_users)
    site = SitePrivateParameters(Path(args.site_state), holder.current.config,
                                 Path(args.site_data) if args.site_data else None) if args.site_state else None
    batcher = MicroBatcher(args.max_batch, site.private if site else None)
    # Outcomes are counted inside authorisation, so a request refused for its certificate is not a serving error.
    server = GrpcServer(max_workers=args.workers,
                        interceptors=[*([PeerAuthorization(SERVICE_ROLES)] if transport.secure else []),
                                      RequestOutcomes()])
    server.add(serving_pb2_grpc.add_ServingServiceServicer_to_server, ServingServicer(holder, store, batcher, site),
               ["fedads.v1.ServingService"])
    server.start(args.listen, transport)
    server.start_health_endpoint(args.health_listen)
    server.holder, server.batcher = holder, batcher
    server.stop_watch = threading.Event()
    holder.watch(args.poll_s, server.stop_watch)
    if args.redis_url:  # behaviour sequences live there: without Redis, serving is not ready
        server.dependencies = DependencyWatch(server, [("redis", store.ping)]).start()
    log.info("serving listening", extra={"port": server.port, "version": holder.current.version, "tls": transport.secure,
                                         "store": "redis" if args.redis_url else "in-process",
                                         "reads": {"registry": str(Path(args.registry).resolve())}})
    return server


def main(argv=None) -> int:
    return cli.run("serving", lambda: _main(argv))


def _main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging("serving", args.log_level)
    try:
        server = build_server(args)
    except (TransportError, BindError, NoIntactVersion, RegistryError, ManifestRejected, OSError) as exc:
        parser.exit(2, f"serving: {exc}\n")
    start_metrics_server(args.metrics_port, args.metrics_host)
    server.wait_for_signal()
    server.stop_watch.set()
    server.batcher.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
