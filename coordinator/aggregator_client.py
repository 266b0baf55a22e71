"""The coordinator's handle on the aggregator service."""
from __future__ import annotations

from fedads.runtime import staging
from fedads.runtime.server import channel
from fedads.runtime.tls import Transport
from fedads.v1 import aggregator_pb2 as apb
from fedads.v1 import aggregator_pb2_grpc


class AggregatorClient:
    def __init__(self, address: str, registry, transport: Transport, timeout_s: float = 600.0):
        self.stub = aggregator_pb2_grpc.AggregatorServiceStub(channel(address, transport))
        self.registry = registry
        self.timeout_s = timeout_s

    def open_round(self, round_id: int, base_version: int, token_sha256: dict[str, str], secure: bool = True,
                   clip: float = 0.0, stage_deadline_s: float = 120.0, server_lr: float = 1.0,
                   server_momentum: float = 0.0, revoked: list[str] = ()) -> int:
        resp = self.stub.OpenRound(apb.OpenRoundRequest(
            round_id=round_id, base_version=base_version, secure_aggregation=secure, secagg_clip=clip,
            stage_deadline_s=stage_deadline_s, server_learning_rate=server_lr, server_momentum=server_momentum,
            participants=[apb.RoundParticipant(site_id=s, upload_token_sha256=h) for s, h in token_sha256.items()],
            revoked_site_ids=list(revoked)),
            # An aggregator restarted since the last round leaves this channel in reconnect backoff, where a
            # call fails at once with the old connection error; wait for it to come back instead.
            timeout=60, wait_for_ready=True)
        return resp.vector_length

    def finalize_round(self, round_id: int, site_ids: list[str], min_sites: int) -> dict:
        resp = self.stub.FinalizeRound(apb.FinalizeRoundRequest(round_id=round_id, site_ids=site_ids,
                                                                min_sites=min_sites), timeout=self.timeout_s)
        manifest = staging.staged_manifest(self.registry, round_id)
        if manifest["version"] != resp.version or manifest["sha256"] != resp.sha256:
            raise RuntimeError(f"aggregator reported sha256 {resp.sha256} for version {resp.version}, "
                               f"registry stages version {manifest['version']} with {manifest['sha256']}")
        return manifest

    def drop_participants(self, round_id: int, site_ids: list[str], revoked: bool = False) -> None:
        self.stub.DropParticipants(apb.DropParticipantsRequest(round_id=round_id, site_ids=site_ids, revoked=revoked),
                                   timeout=30)

    def abort_round(self, round_id: int, reason: str) -> None:
        self.stub.AbortRound(apb.AbortRoundRequest(round_id=round_id, reason=reason[:500]), timeout=30)
