"""Operator-facing gRPC servicer behind `coordinatorctl`."""
from __future__ import annotations

import json

from coordinator.admin_jobs import JobAdminMixin
from coordinator.audit import canonical
from coordinator.round_config import RoundConfigError, RoundSettings
from coordinator.rounds import RoundManager
from coordinator.site_hub import SiteHub
from fedads.runtime.status_codes import code_for
from coordinator.store import CoordinatorStore, StoreError
from fedads.runtime.server import abort
from fedads.v1 import admin_pb2 as pb
from fedads.v1 import admin_pb2_grpc

import grpc


def _ts(value) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value)) if value else ""


def round_to_proto(r: dict | None) -> pb.RoundInfo:
    if r is None:
        return pb.RoundInfo()
    return pb.RoundInfo(
        round_id=r["round_id"], state=r["state"], config_json=json.dumps(r["config"]),
        base_version=r["base_version"], result_version=r["result_version"], failure_reason=r["failure_reason"],
        created_at=_ts(r["created_at"]), finished_at=_ts(r["finished_at"]), wall_seconds=r["wall_seconds"],
        metrics_json=json.dumps(r["metrics"]),
        participants=[pb.ParticipantInfo(site_id=p["site_id"], state=p["state"], num_samples=p["num_samples"],
                                         train_seconds=p["train_seconds"], bytes_sent=p["bytes_sent"],
                                         error=p["error"], metrics_json=json.dumps(p["metrics"]),
                                         upload_sha256=p["upload_sha256"], epsilon_spent=p["epsilon_spent"],
                                         epsilon_budget=p["epsilon_budget"], noise_multiplier=p["noise_multiplier"])
                      for p in r["participants"]])


class AdminServicer(JobAdminMixin, admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, store: CoordinatorStore, hub: SiteHub, rounds: RoundManager, audit, ca_pem: bytes = b"",
                 job_runner=None):
        self.store, self.hub, self.rounds, self.audit, self.ca_pem = store, hub, rounds, audit, ca_pem
        self.job_runner = job_runner

    def _call(self, context, fn):
        try:
            return fn()
        except RoundConfigError as exc:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except StoreError as exc:
            abort(context, code_for(exc.kind), str(exc))

    def StartRound(self, request, context):
        def start():
            round_id = self.rounds.start_round(RoundSettings.from_proto(request.config))
            return round_to_proto(self.store.round(round_id))
        return self._call(context, start)

    def GetRound(self, request, context):
        r = self.store.round(request.round_id)
        if r is None:
            abort(context, grpc.StatusCode.NOT_FOUND,
                  f"round {request.round_id} does not exist" if request.round_id else "no round has run yet")
        return round_to_proto(r)

    def ListRounds(self, request, context):
        return pb.ListRoundsResponse(rounds=[round_to_proto(r) for r in self.store.rounds(request.limit)])

    def ListClients(self, request, context):
        online = set(self.hub.online())
        return pb.ListClientsResponse(clients=[
            pb.ClientInfo(site_id=s["site_id"], online=s["site_id"] in online, revoked=s["revoked"],
                          enrolled_at=_ts(s["enrolled_at"]), last_seen=_ts(s["last_seen"]),
                          num_samples=s["num_samples"], epsilon_spent=s["epsilon_spent"],
                          epsilon_budget=s["epsilon_budget"]) for s in self.store.sites()])

    def ExportAudit(self, request, context):
        for rec in self.audit.records(request.round_id):
            yield pb.AuditRecord(body_json=canonical(rec["body"]), hash=rec["hash"], signature=rec["signature"])

    def GetAuditPublicKey(self, request, context):
        return pb.AuditPublicKey(ed25519_hex=self.audit.key.public_key().public_bytes_raw().hex())

    def CreateEnrollment(self, request, context):
        token = self._call(context, lambda: self.store.create_enrollment(request.site_id))
        self.audit.append("enrollment_issued", 0, site=request.site_id)
        return pb.CreateEnrollmentResponse(site_id=request.site_id, enrollment_token=token, ca_certificate=self.ca_pem)

    def RevokeClient(self, request, context):
        s = self._call(context, lambda: self.store.revoke(request.site_id))
        self.rounds.revoke(request.site_id)  # the aggregator first, then the site's stream
        self.hub.kick(request.site_id)
        self.audit.append("site_revoked", 0, site=request.site_id)
        return pb.ClientInfo(site_id=s["site_id"], revoked=True, enrolled_at=_ts(s["enrolled_at"]))

    def GetStatus(self, request, context):
        sites = self.store.sites()
        online = set(self.hub.online())
        rounds = self.store.rounds(1)
        return pb.StatusResponse(
            latest_version=self.store.latest_model_version(), sites_enrolled=sum(not s["revoked"] for s in sites),
            sites_online=sum(1 for s in sites if s["site_id"] in online and not s["revoked"]),
            active_round=round_to_proto(self.store.active_round()),
            last_round=round_to_proto(rounds[0] if rounds else None))
