"""Building and running a FedAds gRPC server: health checking, reflection, metrics, clean shutdown."""
from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from typing import Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from fedads.runtime.tls import Transport

log = logging.getLogger(__name__)

# Our own payloads stay below 2 MiB per message; the limit is raised a little above the
# default so an oversized message is refused by us with a clear status rather than by the transport.
MAX_MESSAGE_BYTES = 8 << 20
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
SERVER_OPTIONS = CHANNEL_OPTIONS + [("grpc.http2.min_ping_interval_without_data_ms", 10_000)]


class GrpcServer:
    """A grpc.Server with the standard health and reflection services registered."""

    def __init__(self, max_workers: int = 32, interceptors=()):
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), options=SERVER_OPTIONS,
                                  interceptors=list(interceptors))
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._service_names: list[str] = []
        self.port = self.enrollment_port = self.health_port = 0
        self._health_server = None

    def add(self, add_fn, servicer, service_full_names: Iterable[str]) -> None:
        add_fn(servicer, self.server)
        self._service_names.extend(service_full_names)

    def start(self, address: str, transport: Transport, enrollment_address: str = "") -> int:
        """Listen on `address` (mTLS, or plaintext for an insecure transport) and, for a TLS transport,
        on `enrollment_address` with server-only TLS for sites that have no certificate yet."""
        names = self._service_names + [health.SERVICE_NAME, reflection.SERVICE_NAME]
        reflection.enable_server_reflection(names, self.server)
        if transport.secure:
            self.port = self.server.add_secure_port(address, transport.server_credentials())
            if enrollment_address:
                self.enrollment_port = self.server.add_secure_port(enrollment_address,
                                                                   transport.enrollment_credentials())
                if self.enrollment_port == 0:
                    raise RuntimeError(f"could not bind the enrolment port to {enrollment_address}")
        else:
            self.port = self.server.add_insecure_port(address)
        if self.port == 0:
            raise RuntimeError(f"could not bind gRPC server to {address}")
        self.server.start()
        for name in self._service_names + [""]:
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self.port

    def start_health_endpoint(self, address: str) -> int:
        """A plaintext server carrying only the health service, for orchestrator probes
        (Kubernetes gRPC probes cannot present a client certificate). It reveals serving status only."""
        if not address:
            return 0
        self._health_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._health_server)
        self.health_port = self._health_server.add_insecure_port(address)
        if self.health_port == 0:
            raise RuntimeError(f"could not bind the health endpoint to {address}")
        self._health_server.start()
        return self.health_port

    def stop(self, grace: float = 2.0) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        if self._health_server is not None:
            self._health_server.stop(0)

    def wait_for_signal(self) -> None:
        """Block until SIGINT/SIGTERM, then shut down gracefully."""
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
        log.info("shutting down")
        self.stop()


def start_metrics_server(port: int, host: str = "127.0.0.1") -> None:
    """Expose Prometheus metrics on http://<host>:<port>/metrics (port 0 disables)."""
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, addr=host)


def add_metrics_flags(parser) -> None:
    parser.add_argument("--metrics-port", type=int, default=0, help="Prometheus /metrics port (0: off)")
    parser.add_argument("--metrics-host", default="127.0.0.1",
                        help="address the metrics endpoint binds (0.0.0.0 inside a container)")


def add_health_flags(parser) -> None:
    parser.add_argument("--health-listen", default="",
                        help="plaintext gRPC health-only endpoint (host:port) for orchestrator probes (default: off)")


def channel(address: str, transport: Transport) -> grpc.Channel:
    return transport.channel(address, CHANNEL_OPTIONS)


def abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str):
    """Log and abort an RPC with a status a person can act on."""
    log.warning("rejected request", extra={"code": code.name, "reason": message})
    context.abort(code, message)
