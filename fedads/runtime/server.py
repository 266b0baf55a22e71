"""Building and running a FedAds gRPC server: health checking, reflection, metrics, clean shutdown."""
from __future__ import annotations

import logging
import signal
import socket
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
# No SO_REUSEPORT: with it a second instance binds the same port silently and the kernel splits the
# calls between the two, so operator calls reach an instance that holds no sites (DESIGN §9).
NO_PORT_SHARING = [("grpc.so_reuseport", 0)]
SERVER_OPTIONS = CHANNEL_OPTIONS + [("grpc.http2.min_ping_interval_without_data_ms", 10_000)] + NO_PORT_SHARING
# The coordinator's and aggregator's servers hold one worker thread per connected site's task stream and per
# site waiting in a SecAgg+ stage; an RPC beyond the pool waits unserved. The pool is therefore sized above the
# number of sites expected at once (bench/load runs 1,000 with --rpc-threads 1100).
DEFAULT_RPC_THREADS = 256


class BindError(RuntimeError):
    """A listen address that cannot be bound (most often: another process holds the port)."""


def check_bindable(address: str, what: str = "gRPC server") -> None:
    """Fail with one readable line when `address` is taken, before gRPC's core logs its own bind error."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or None
    if not port.isdigit():
        raise BindError(f"{what}: listen address {address!r} is not host:port")
    if int(port) == 0:
        return
    try:
        infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BindError(f"{what}: cannot resolve listen address {address!r}: {exc.strerror}") from exc
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC does: TIME_WAIT is no owner
            try:
                s.bind(sockaddr)
            except OSError as exc:
                raise BindError(f"{what}: cannot listen on {address}: {exc.strerror} "
                                f"(is another instance already running there?)") from exc


def _add_port(add, address: str, what: str) -> int:
    check_bindable(address, what)
    try:
        port = add(address)
    except RuntimeError as exc:  # grpc raises rather than returning 0 since 1.5x
        raise BindError(f"{what}: cannot listen on {address} (is another instance already running there?)") from exc
    if port == 0:
        raise BindError(f"{what}: cannot listen on {address} (is another instance already running there?)")
    return port


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
        self._stop_hooks: list = []
        self._stop_requested = threading.Event()

    def on_stop(self, fn) -> None:
        """Run `fn()` once the server has stopped (release a lease, close a store)."""
        self._stop_hooks.append(fn)

    def add(self, add_fn, servicer, service_full_names: Iterable[str]) -> None:
        add_fn(servicer, self.server)
        self._service_names.extend(service_full_names)

    def start(self, address: str, transport: Transport, enrollment_address: str = "") -> int:
        """Listen on `address` (mTLS, or plaintext for an insecure transport) and, for a TLS transport,
        on `enrollment_address` with server-only TLS for sites that have no certificate yet."""
        names = self._service_names + [health.SERVICE_NAME, reflection.SERVICE_NAME]
        reflection.enable_server_reflection(names, self.server)
        if transport.secure:
            self.port = _add_port(lambda a: self.server.add_secure_port(a, transport.server_credentials()),
                                  address, "gRPC server")
            if enrollment_address:
                self.enrollment_port = _add_port(
                    lambda a: self.server.add_secure_port(a, transport.enrollment_credentials()),
                    enrollment_address, "enrolment port")
        else:
            self.port = _add_port(self.server.add_insecure_port, address, "gRPC server")
        self.server.start()
        for name in self._service_names + [""]:
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self.port

    def start_health_endpoint(self, address: str) -> int:
        """A plaintext server carrying only the health service, for orchestrator probes
        (Kubernetes gRPC probes cannot present a client certificate). It reveals serving status only."""
        if not address:
            return 0
        self._health_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), options=NO_PORT_SHARING)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._health_server)
        self.health_port = _add_port(self._health_server.add_insecure_port, address, "health endpoint")
        self._health_server.start()
        return self.health_port

    def stop(self, grace: float = 2.0) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        if self._health_server is not None:
            self._health_server.stop(0)
        hooks, self._stop_hooks = self._stop_hooks, []
        for fn in hooks:
            fn()

    def set_health(self, status) -> None:
        """Every registered service's health at once (a dependency went down or came back)."""
        if self._stop_requested.is_set():
            return
        for name in self._service_names + [""]:
            self.health.set(name, status)

    def request_stop(self, reason: str) -> None:
        """Stop from inside the process (a lost lease): health turns NOT_SERVING at once."""
        log.error("stopping", extra={"reason": reason})
        for name in self._service_names + [""]:
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self._stop_requested.set()

    def wait_for_signal(self) -> None:
        """Block until SIGINT/SIGTERM or request_stop(), then shut down gracefully."""
        stop = self._stop_requested
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


def add_rpc_threads_flag(parser) -> None:
    parser.add_argument("--rpc-threads", type=int, default=DEFAULT_RPC_THREADS,
                        help="gRPC worker threads; each site connected at once holds one: set above the number of "
                             "sites")


def add_health_flags(parser) -> None:
    parser.add_argument("--health-listen", default="",
                        help="plaintext gRPC health-only endpoint (host:port) for orchestrator probes (default: off)")


def channel(address: str, transport: Transport) -> grpc.Channel:
    return transport.channel(address, CHANNEL_OPTIONS)


def abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str):
    """Log and abort an RPC with a status a person can act on."""
    log.warning("rejected request", extra={"code": code.name, "reason": message})
    context.abort(code, message)
