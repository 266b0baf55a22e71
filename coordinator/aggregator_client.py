"""The coordinator's handle on the aggregator service.

Every call is bounded by the stage it serves and fails with AggregatorError, one readable line naming the
aggregator and the status, so a round whose aggregator is gone fails within seconds and says why.
"""
from __future__ import annotations

import functools

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fedads.runtime import staging
from fedads.runtime.errors import one_line
from fedads.runtime.server import CHANNEL_OPTIONS
from fedads.runtime.tls import Transport
from fedads.v1 import aggregator_pb2 as apb
from fedads.v1 import aggregator_pb2_grpc

# A restarted aggregator is found again within a second or two, never after gRPC's default 2-minute backoff.
RECONNECT_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 500), ("grpc.min_reconnect_backoff_ms", 500),
                     ("grpc.max_reconnect_backoff_ms", 2000)]
OPEN_TIMEOUT_S = 5.0     # waits for a reconnecting aggregator, yet fails a round well inside 10 s
CONTROL_TIMEOUT_S = 10.0  # drop and abort
FINALIZE_MARGIN_S = 30.0  # summing and staging after the unmasking stage's own deadline


class AggregatorError(RuntimeError):
    """A call to the aggregator failed; the message is one line naming the status."""


def _bounded(fn):
    @functools.wraps(fn)
    def call(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except grpc.RpcError as exc:
            raise AggregatorError(one_line(exc, f"aggregator at {self.address}")) from None
    return call


class AggregatorClient:
    def __init__(self, address: str, registry, transport: Transport):
        self.address = address
        self.channel = transport.channel(address, CHANNEL_OPTIONS + RECONNECT_OPTIONS)
        self.stub = aggregator_pb2_grpc.AggregatorServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.registry = registry

    def healthy(self, timeout_s: float = 2.0) -> bool:
        try:
            return self.health.Check(health_pb2.HealthCheckRequest(), timeout=timeout_s).status == \
                health_pb2.HealthCheckResponse.SERVING
        except grpc.RpcError:
            return False

    def open_round(self, *args, **kwargs) -> int:
        try:
            return self._open_round(*args, **kwargs)
        except AggregatorError as exc:
            if "DEADLINE_EXCEEDED" in str(exc):  # wait_for_ready never got a connection
                raise AggregatorError(f"aggregator at {self.address}: UNAVAILABLE: not reachable within "
                                      f"{OPEN_TIMEOUT_S:.0f}s") from None
            raise

    @_bounded
    def _open_round(self, round_id: int, base_version: int, token_sha256: dict[str, str], secure: bool = True,
                   clip: float = 0.0, stage_deadline_s: float = 120.0, server_lr: float = 1.0,
                   server_momentum: float = 0.0, revoked: list[str] = ()) -> int:
        resp = self.stub.OpenRound(apb.OpenRoundRequest(
            round_id=round_id, base_version=base_version, secure_aggregation=secure, secagg_clip=clip,
            stage_deadline_s=stage_deadline_s, server_learning_rate=server_lr, server_momentum=server_momentum,
            participants=[apb.RoundParticipant(site_id=s, upload_token_sha256=h) for s, h in token_sha256.items()],
            revoked_site_ids=list(revoked)),
            # An aggregator restarted since the last round leaves this channel in reconnect backoff, where a
            # call fails at once with the old connection error; wait (briefly) for it to come back instead.
            timeout=min(OPEN_TIMEOUT_S, stage_deadline_s), wait_for_ready=True)
        return resp.vector_length

    @_bounded
    def finalize_round(self, round_id: int, site_ids: list[str], min_sites: int, stage_deadline_s: float) -> dict:
        resp = self.stub.FinalizeRound(apb.FinalizeRoundRequest(round_id=round_id, site_ids=site_ids,
                                                                min_sites=min_sites),
                                       timeout=stage_deadline_s + FINALIZE_MARGIN_S)
        manifest = staging.staged_manifest(self.registry, round_id)
        if manifest["version"] != resp.version or manifest["sha256"] != resp.sha256:
            raise AggregatorError(f"aggregator reported sha256 {resp.sha256} for version {resp.version}, "
                                  f"registry stages version {manifest['version']} with {manifest['sha256']}")
        return manifest

    @_bounded
    def drop_participants(self, round_id: int, site_ids: list[str], revoked: bool = False) -> None:
        self.stub.DropParticipants(apb.DropParticipantsRequest(round_id=round_id, site_ids=site_ids, revoked=revoked),
                                   timeout=CONTROL_TIMEOUT_S)

    @_bounded
    def abort_round(self, round_id: int, reason: str) -> None:
        self.stub.AbortRound(apb.AbortRoundRequest(round_id=round_id, reason=reason[:500]), timeout=CONTROL_TIMEOUT_S)
