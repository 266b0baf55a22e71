"""`aggregator`: the FedAds aggregation service."""
from __future__ import annotations

import argparse
import logging
import sys

from pathlib import Path

from aggregator.service import AggregatorCore, AggregatorServicer
from fedads.runtime import cli
from fedads.runtime.logs import setup_logging
from fedads.runtime.registry import ModelRegistry
from fedads.runtime.server import (BindError, GrpcServer, add_health_flags, add_metrics_flags, add_rpc_threads_flag,
                                   start_metrics_server)
from fedads.runtime.tls import PeerAuthorization, TransportError, add_tls_flags, transport_from_args
from fedads.v1 import aggregator_pb2_grpc

log = logging.getLogger("aggregator")


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser("aggregator", "Run the FedAds aggregator (sums updates, publishes models).")
    p.add_argument("--listen", default="127.0.0.1:7100", help="gRPC listen address (host:port)")
    p.add_argument("--registry", default="registry", help="model registry folder shared with the coordinator")
    p.add_argument("--max-update-mb", type=int, default=2048, help="largest update accepted, in MiB")
    add_metrics_flags(p)
    add_health_flags(p)
    add_rpc_threads_flag(p)
    add_tls_flags(p)
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    return p


_SERVICE = "/fedads.v1.AggregatorService/"
# Round lifecycle belongs to the coordinator; uploads and SecAgg stages to sites (each acting only
# as itself: the servicer compares the certificate with the site named in the request).
METHOD_ROLES = {
    **{_SERVICE + m: {"coordinator"} for m in ("OpenRound", "FinalizeRound", "AbortRound", "DropParticipants")},
    "fedads.v1.AggregatorService": {"site"},
}


def main(argv=None) -> int:
    return cli.run("aggregator", lambda: _main(argv))


def _main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging("aggregator", args.log_level)
    try:
        transport = transport_from_args(args)
    except TransportError as exc:
        parser.exit(2, f"aggregator: {exc}\n")
    core = AggregatorCore(ModelRegistry(args.registry))
    server = GrpcServer(max_workers=args.rpc_threads, interceptors=[PeerAuthorization(METHOD_ROLES, core.certificate_check)]
                        if transport.secure else [])
    server.add(aggregator_pb2_grpc.add_AggregatorServiceServicer_to_server,
               AggregatorServicer(core, args.max_update_mb << 20), ["fedads.v1.AggregatorService"])
    try:
        port = server.start(args.listen, transport)
        server.start_health_endpoint(args.health_listen)
    except BindError as exc:
        parser.exit(2, f"aggregator: {exc}\n")
    start_metrics_server(args.metrics_port, args.metrics_host)
    log.info("aggregator listening", extra={"port": port, "tls": transport.secure,
                                            "writes": {"registry": str(Path(args.registry).resolve())}})
    server.wait_for_signal()
    return 0


if __name__ == "__main__":
    sys.exit(main())
