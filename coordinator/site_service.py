"""Site-facing gRPC servicer: enrolment, the task stream, task results. Thin: logic lives in store and rounds."""
from __future__ import annotations

import logging
import queue

import grpc

from coordinator.audit import public_hex
from coordinator.rounds import RoundManager
from coordinator.site_hub import SiteHub
from fedads.runtime.status_codes import code_for
from coordinator.store import CoordinatorStore, StoreError
from fedads.runtime.server import abort
from fedads.runtime.pki import CertificateAuthority, PkiError, cert_pem, serial_hex
from fedads.runtime.site_auth import SITE_ID_KEY, SITE_SECRET_KEY
from fedads.runtime.tls import mismatched_site
from fedads.v1 import coordinator_pb2 as cpb
from fedads.v1 import coordinator_pb2_grpc

log = logging.getLogger(__name__)

class CoordinatorServicer(coordinator_pb2_grpc.CoordinatorServiceServicer):
    def __init__(self, store: CoordinatorStore, hub: SiteHub, rounds: RoundManager,
                 ca: CertificateAuthority | None = None):
        self.store, self.hub, self.rounds, self.ca = store, hub, rounds, ca

    def _authenticate(self, context) -> str:
        md = dict(context.invocation_metadata())
        site_id, secret = md.get(SITE_ID_KEY, ""), md.get(SITE_SECRET_KEY, "")
        if not site_id or not secret:
            abort(context, grpc.StatusCode.UNAUTHENTICATED,
                  f"missing {SITE_ID_KEY}/{SITE_SECRET_KEY} metadata; enrol the site first")
        mismatch = mismatched_site(context, site_id)
        if mismatch:
            abort(context, grpc.StatusCode.PERMISSION_DENIED, mismatch)
        try:
            self.store.authenticate(site_id, secret)
        except StoreError as exc:
            abort(context, code_for(exc.kind), str(exc))
        return site_id

    def Enroll(self, request, context):
        issued: list[tuple[bytes, str]] = []  # (certificate PEM, serial)

        def issue_certificate() -> str:
            try:
                cert = self.ca.sign_csr(request.certificate_signing_request, request.site_id)
            except PkiError as exc:
                raise StoreError("invalid", str(exc)) from exc
            serial = serial_hex(cert)
            issued.append((cert_pem(cert), serial))
            return serial

        if self.ca is not None and not request.certificate_signing_request:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                  "this coordinator runs mTLS: send a certificate_signing_request for the site's TLS key")
        try:
            secret = self.store.enroll(request.site_id, request.enrollment_token, request.identity_public_key,
                                       issue_certificate if self.ca is not None else None)
        except StoreError as exc:
            abort(context, code_for(exc.kind), str(exc))
        pem, serial = issued[0] if issued else (b"", "")
        log.info("site enrolled", extra={"site": request.site_id, "certificate_serial": serial})
        self.rounds.audit_event("site_enrolled", 0, site=request.site_id,
                                identity_public_key=request.identity_public_key.hex(), certificate_serial=serial)
        audit = self.rounds.audit
        return cpb.EnrollResponse(site_id=request.site_id, site_secret=secret,
                                  certificate=pem, ca_certificate=self.ca.ca_pem if issued else b"",
                                  audit_public_key=public_hex(audit.key) if audit is not None else "")

    def Connect(self, request, context):
        site_id = self._authenticate(context)
        self.store.touch_site(site_id, request.num_samples or None)
        self.rounds.noise.report(site_id, request.privacy)
        q = self.hub.connect(site_id)
        log.info("site connected", extra={"site": site_id, "device": request.device})
        try:
            while context.is_active():
                try:
                    task = q.get(timeout=1.0)
                except queue.Empty:
                    continue
                if task is None:  # replaced by a newer stream, or revoked
                    return
                yield task
        finally:
            self.hub.disconnect(site_id, q)
            self.rounds.notify()
            log.info("site disconnected", extra={"site": site_id})

    def ReportResult(self, request, context):
        site_id = self._authenticate(context)
        try:
            self.rounds.on_result(site_id, request)
        except StoreError as exc:
            abort(context, code_for(exc.kind), str(exc))
        self.store.touch_site(site_id)
        return cpb.TaskResultAck(accepted=True)
