"""Redeeming a site's one-time enrolment token: the one place that knows both transports' enrolment."""
from __future__ import annotations

from client_agent.local_store import LocalStore
from fedads.runtime.server import CHANNEL_OPTIONS, channel
from fedads.runtime.tls import Transport, enrollment_channel
from fedads.v1 import coordinator_pb2 as cpb
from fedads.v1 import coordinator_pb2_grpc


def enroll(store: LocalStore, site_id: str, token: str, coordinator: str, ca_pem: bytes | None = None,
           enroll_address: str = "") -> tuple[str, Transport]:
    """Enrol with `token` and keep what it yields in `store`; returns the site secret and the transport
    the site speaks from now on. With `ca_pem` (mTLS) the site's TLS key stays in the store: a CSR goes to
    the enrolment port, authenticated against the pinned CA, and the issued certificate is saved.
    Raises grpc.RpcError when the coordinator refuses."""
    from privacy.secagg.keys import public_bytes

    request = cpb.EnrollRequest(site_id=site_id, enrollment_token=token,
                                identity_public_key=public_bytes(store.identity_key()))
    if ca_pem:
        request.certificate_signing_request = store.tls_csr(site_id)
        ch = enrollment_channel(enroll_address or coordinator, ca_pem, CHANNEL_OPTIONS)
    else:
        ch = channel(coordinator, Transport.insecure())
    with ch:
        resp = coordinator_pb2_grpc.CoordinatorServiceStub(ch).Enroll(request, timeout=30, wait_for_ready=True)
    if ca_pem:
        store.save_certificate(resp.certificate, resp.ca_certificate)
    if resp.audit_public_key:
        store.save_audit_key(resp.audit_public_key)
    store.save_credentials(resp.site_id, resp.site_secret)
    return resp.site_secret, Transport(store.tls_identity()) if ca_pem else Transport.insecure()
