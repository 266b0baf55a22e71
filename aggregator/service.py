"""Aggregator gRPC servicer: round lifecycle from the coordinator, chunked uploads from sites."""
from __future__ import annotations

import logging
import threading

import grpc
from prometheus_client import Counter, Histogram

from aggregator.aggregation_round import AggregationRound, UploadRejected
from aggregator.secagg_stages import StageClosed
from privacy.secagg.client import Advert, EncryptedShare, RevealedShare
from privacy.secagg.keys import SecAggError
from privacy.secagg.shamir import share_from_bytes
from fedads.runtime.registry import ModelRegistry, RegistryError, VersionNotFound
from fedads.runtime.server import abort
from fedads.runtime.status_codes import code_for
from fedads.runtime.tls import mismatched_site
from fedads.v1 import aggregator_pb2 as apb
from fedads.v1 import aggregator_pb2_grpc

log = logging.getLogger(__name__)

UPLOADS = Counter("fedads_aggregator_uploads_total", "Update uploads by outcome", ["outcome"])
UPLOAD_BYTES = Counter("fedads_aggregator_upload_bytes_total", "Bytes of accepted updates")
FINALIZE_SECONDS = Histogram("fedads_aggregator_finalize_seconds", "Time to aggregate and publish a round")


class AggregatorCore:
    """Rounds by id; the servicer only translates between gRPC and this."""

    def __init__(self, registry: ModelRegistry):
        self.registry = registry
        self.rounds: dict[int, AggregationRound] = {}
        self.lock = threading.Lock()
        self.revoked: set[str] = set()  # site ids the coordinator revoked: their certificates are refused

    def revoke(self, site_ids) -> None:
        with self.lock:
            self.revoked.update(site_ids)
            rounds = list(self.rounds.values())
        for rnd in rounds:
            rnd.drop([s for s in site_ids if s in rnd.participants])

    def certificate_check(self, peer):
        """PeerAuthorization hook: a revoked site is refused here too, not only by the coordinator."""
        if peer.role == "site" and peer.name in self.revoked:
            return grpc.StatusCode.PERMISSION_DENIED, f"site {peer.name} is revoked"
        return None

    def open_round(self, round_id: int, base_version: int, participants: dict[str, str], secure: bool = False,
                   clip: float = 0.0, stage_deadline_s: float = 120.0, server_lr: float = 1.0,
                   server_momentum: float = 0.0) -> AggregationRound:
        if round_id <= 0 or not participants:
            raise UploadRejected("invalid", "a round needs a positive id and at least one participant")
        if not 0 < server_lr <= 10:
            raise UploadRejected("invalid", f"server learning rate {server_lr} must be in (0, 10]")
        if not 0 <= server_momentum < 1:
            raise UploadRejected("invalid", f"server momentum {server_momentum} must be in [0, 1)")
        with self.lock:
            if round_id in self.rounds:
                raise UploadRejected("exists", f"round {round_id} is already open")
        try:
            rnd = AggregationRound(round_id, base_version, participants, self.registry, secure, clip,
                                   stage_deadline_s or 120.0, server_lr, server_momentum)
        except VersionNotFound as exc:
            raise UploadRejected("not_found", str(exc)) from exc
        except ValueError as exc:
            raise UploadRejected("invalid", str(exc)) from exc
        with self.lock:
            self.rounds[round_id] = rnd
        return rnd

    def get(self, round_id: int) -> AggregationRound:
        with self.lock:
            rnd = self.rounds.get(round_id)
        if rnd is None:
            raise UploadRejected("not_found", f"round {round_id} is not open on this aggregator")
        return rnd

    def finalize(self, round_id: int, site_ids: list[str], min_sites: int) -> dict:
        result = self.get(round_id).finalize(site_ids, min_sites)
        with self.lock:
            self.rounds.pop(round_id, None)
        return result

    def abort(self, round_id: int, reason: str = "") -> bool:
        with self.lock:
            rnd = self.rounds.pop(round_id, None)
        if rnd is not None and rnd.stages is not None:
            rnd.stages.abort(reason)
        return rnd is not None


class AggregatorServicer(aggregator_pb2_grpc.AggregatorServiceServicer):
    def __init__(self, core: AggregatorCore, max_update_bytes: int = 1 << 31):
        self.core = core
        self.max_update_bytes = max_update_bytes

    def OpenRound(self, request, context):
        if request.revoked_site_ids:
            self.core.revoke(list(request.revoked_site_ids))
        try:
            rnd = self.core.open_round(request.round_id, request.base_version,
                                       {p.site_id: p.upload_token_sha256 for p in request.participants},
                                       request.secure_aggregation, request.secagg_clip, request.stage_deadline_s,
                                       request.server_learning_rate or 1.0, request.server_momentum)
        except UploadRejected as exc:
            abort(context, code_for(exc.kind), str(exc))
        log.info("round opened", extra={"round_id": request.round_id, "sites": len(request.participants),
                                        "vector_length": rnd.layout.length})
        return apb.OpenRoundResponse(vector_length=rnd.layout.length)

    def UploadUpdate(self, request_iterator, context):
        try:
            first = next(request_iterator, None)
            if first is None or first.WhichOneof("part") != "header":
                raise UploadRejected("invalid", "an upload stream must start with an UpdateHeader message")
            h = first.header
            mismatch = mismatched_site(context, h.site_id)
            if mismatch:
                raise UploadRejected("permission", mismatch)
            rnd = self.core.get(h.round_id)
            rnd.check_header(h.site_id, h.upload_token, h.num_elements, h.dtype)
            expected = h.num_elements * rnd.itemsize
            if expected > self.max_update_bytes:
                raise UploadRejected("invalid", f"update of {expected} bytes exceeds the limit {self.max_update_bytes}")
            buf = bytearray()
            for msg in request_iterator:
                if msg.WhichOneof("part") != "data":
                    raise UploadRejected("invalid", "only data chunks may follow the header")
                buf += msg.data
                if len(buf) > expected:
                    raise UploadRejected("invalid", f"update carries more than the {expected} bytes announced")
            digest = rnd.accept(h.site_id, h.upload_token, h.num_elements, h.dtype, h.sha256, bytes(buf))
        except UploadRejected as exc:
            UPLOADS.labels(exc.kind).inc()
            abort(context, code_for(exc.kind), str(exc))
        UPLOADS.labels("accepted").inc()
        UPLOAD_BYTES.inc(len(buf))
        log.info("update accepted", extra={"round_id": h.round_id, "site": h.site_id, "bytes": len(buf)})
        return apb.UploadReceipt(round_id=h.round_id, site_id=h.site_id, sha256=digest, bytes_received=len(buf))

    def FinalizeRound(self, request, context):
        try:
            with FINALIZE_SECONDS.time():
                result = self.core.finalize(request.round_id, list(request.site_ids), request.min_sites)
        except UploadRejected as exc:
            abort(context, code_for(exc.kind), str(exc))
        except RegistryError as exc:
            abort(context, grpc.StatusCode.INTERNAL, f"could not publish round {request.round_id}: {exc}")
        m = result["manifest"]
        log.info("round published", extra={"round_id": request.round_id, "version": m["version"],
                                           "sites": result["included"]})
        return apb.FinalizeRoundResponse(version=m["version"], sha256=m["sha256"],
                                         included_site_ids=result["included"])

    def AbortRound(self, request, context):
        aborted = self.core.abort(request.round_id, request.reason)
        if aborted:
            log.warning("round aborted", extra={"round_id": request.round_id, "reason": request.reason})
        return apb.AbortRoundResponse(aborted=aborted)

    def DropParticipants(self, request, context):
        if request.revoked:
            self.core.revoke(list(request.site_ids))
            if not request.round_id:
                return apb.DropParticipantsResponse(dropped=len(request.site_ids))
        try:
            rnd = self.core.get(request.round_id)
        except UploadRejected as exc:
            abort(context, code_for(exc.kind), str(exc))
        rnd.drop(list(request.site_ids))
        log.warning("participants dropped", extra={"round_id": request.round_id, "sites": list(request.site_ids),
                                                   "revoked": request.revoked})
        return apb.DropParticipantsResponse(dropped=len(request.site_ids))

    # --- SecAgg+ stages ---
    def _stages(self, auth, context):
        mismatch = mismatched_site(context, auth.site_id)
        if mismatch:
            abort(context, grpc.StatusCode.PERMISSION_DENIED, mismatch)
        try:
            rnd = self.core.get(auth.round_id)
            rnd.authenticate(auth.site_id, auth.upload_token)
        except UploadRejected as exc:
            abort(context, code_for(exc.kind), str(exc))
        if rnd.stages is None:
            abort(context, grpc.StatusCode.FAILED_PRECONDITION, f"round {auth.round_id} uses plain aggregation")
        return rnd.stages

    def _secagg_call(self, context, fn):
        try:
            return fn()
        except StageClosed as exc:
            abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except SecAggError as exc:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                  f"{exc} (offender: {exc.offender})" if exc.offender else str(exc))
        except ValueError as exc:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"malformed secure-aggregation message: {exc}")

    def AdvertiseKeys(self, request, context):
        stages = self._stages(request.auth, context)
        a = request.advert
        if a.site_id != request.auth.site_id:
            abort(context, grpc.StatusCode.PERMISSION_DENIED, "a site may only advertise its own keys")
        adverts = self._secagg_call(context, lambda: stages.advertise(
            Advert(a.site_id, a.c_pk, a.s_pk, a.b_commitment, a.signature)))
        return apb.AdvertiseKeysResponse(adverts=[apb.KeyAdvertisement(
            site_id=x.site, c_pk=x.c_pk, s_pk=x.s_pk, b_commitment=x.b_commitment, signature=x.signature)
            for x in adverts])

    def ShareKeys(self, request, context):
        stages = self._stages(request.auth, context)
        shares = [EncryptedShare(x.sender, x.receiver, x.ciphertext) for x in request.shares]
        out = self._secagg_call(context, lambda: stages.share(request.auth.site_id, shares))
        return apb.ShareKeysResponse(shares=[apb.EncryptedShare(sender=x.sender, receiver=x.receiver,
                                                                ciphertext=x.ciphertext) for x in out])

    def Unmask(self, request, context):
        stages = self._stages(request.auth, context)
        # Answer a little before the caller's deadline, so a long wait ends in a status that says why.
        wait = max(0.1, (context.time_remaining() or 600.0) - 1.0)
        survivors = self._secagg_call(context, lambda: stages.survivors(request.auth.site_id, wait))
        return apb.UnmaskResponse(survivors=survivors)

    def RevealShares(self, request, context):
        stages = self._stages(request.auth, context)
        self._secagg_call(context, lambda: stages.reveal(request.auth.site_id, [
            RevealedShare(x.owner, x.kind, share_from_bytes(x.share)) for x in request.shares]))
        return apb.RevealSharesResponse(accepted=True)

