"""Transport security of every FedAds link: mutual TLS by default, plaintext only when asked for.

Servers require a client certificate signed by the federation CA and admit a call only when the
certificate's role may use the method's service (PeerAuthorization); the coordinator additionally
binds a site's certificate to the one it issued and refuses revoked sites. gRPC Python cannot ask
for a client certificate optionally, so a new site enrols on a separate server-authenticated port.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import grpc

from fedads.runtime.pki import Identity, PkiError

INSECURE_ENV, TLS_DIR_ENV = "FEDADS_INSECURE", "FEDADS_TLS_DIR"


class TransportError(ValueError):
    pass


@dataclass(frozen=True)
class Transport:
    """How this process talks gRPC: with an mTLS identity, or plaintext (identity None)."""
    identity: Identity | None

    @property
    def secure(self) -> bool:
        return self.identity is not None

    @classmethod
    def insecure(cls) -> "Transport":
        return cls(None)

    @classmethod
    def from_dir(cls, folder: str | Path) -> "Transport":
        try:
            return cls(Identity.read(folder))
        except PkiError as exc:
            raise TransportError(str(exc)) from exc

    def server_credentials(self) -> grpc.ServerCredentials:
        """mTLS: the handshake fails for a caller without a certificate from our CA."""
        i = self._need()
        return grpc.ssl_server_credentials([(i.key_pem, i.cert_pem)], root_certificates=i.ca_pem,
                                           require_client_auth=True)

    def enrollment_credentials(self) -> grpc.ServerCredentials:
        """Server-authenticated TLS for sites that have no certificate yet."""
        i = self._need()
        return grpc.ssl_server_credentials([(i.key_pem, i.cert_pem)])

    def channel(self, address: str, options=()) -> grpc.Channel:
        if self.identity is None:
            return grpc.insecure_channel(address, options=list(options))
        return grpc.secure_channel(address, self._channel_credentials(), options=list(options))

    def aio_channel(self, address: str, options=()) -> grpc.aio.Channel:
        """The same channel for asyncio callers (many sites in one event loop: bench/load)."""
        if self.identity is None:
            return grpc.aio.insecure_channel(address, options=list(options))
        return grpc.aio.secure_channel(address, self._channel_credentials(), options=list(options))

    def _channel_credentials(self) -> grpc.ChannelCredentials:
        i = self.identity
        return grpc.ssl_channel_credentials(i.ca_pem, i.key_pem, i.cert_pem)

    def _need(self) -> Identity:
        if self.identity is None:
            raise TransportError("no TLS identity configured")
        return self.identity


def enrollment_channel(address: str, ca_pem: bytes, options=()) -> grpc.Channel:
    """A channel that authenticates the server only: how a site reaches the enrolment port."""
    return grpc.secure_channel(address, grpc.ssl_channel_credentials(ca_pem), options=list(options))


def add_tls_flags(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("transport security")
    g.add_argument("--tls-dir", default=os.environ.get(TLS_DIR_ENV, ""),
                   help=f"folder with ca.crt, tls.crt and tls.key (from `fedads-pki issue`; env {TLS_DIR_ENV})")
    g.add_argument("--insecure", action="store_true", default=os.environ.get(INSECURE_ENV, "") == "1",
                   help=f"plaintext gRPC, for local development only (env {INSECURE_ENV}=1)")


def transport_from_args(args) -> Transport:
    if args.tls_dir and args.insecure:
        raise TransportError("give either --tls-dir or --insecure, not both")
    if args.tls_dir:
        return Transport.from_dir(args.tls_dir)
    if args.insecure:
        return Transport.insecure()
    raise TransportError("no transport security configured: pass --tls-dir DIR (ca.crt, tls.crt, tls.key from "
                         "`fedads-pki issue`), or --insecure for plaintext local development")


# --- who is calling ---

@dataclass(frozen=True)
class Peer:
    name: str     # certificate common name: a site id, or a service/operator name
    role: str     # organisational unit: one of pki.ROLES
    serial: str   # hex serial of the certificate the peer presented


def _subject_fields(subject: str) -> dict[str, str]:
    # Our own CA writes these subjects from a restricted alphabet (pki.sign), so no escaping occurs.
    out = {}
    for part in subject.split(","):
        key, _, value = part.partition("=")
        out[key.strip().lower()] = value.strip()
    return out


def peer_of(context: grpc.ServicerContext) -> Peer | None:
    """The verified certificate identity of the caller, or None on a plaintext connection."""
    auth = context.auth_context() or {}
    subject = auth.get("x509_subject")
    if not subject:
        return None
    fields = _subject_fields(subject[0].decode())
    return Peer(fields.get("cn", ""), fields.get("ou", ""), fields.get("serialnumber", ""))


def mismatched_site(context: grpc.ServicerContext, claimed_site: str) -> str | None:
    """Why a caller may not act as `claimed_site`, or None when it may (or the link is plaintext)."""
    peer = peer_of(context)
    if peer is None:
        return None
    if peer.role != "site":
        return f"certificate of {peer.role} {peer.name!r} cannot act as a site"
    if peer.name != claimed_site:
        return f"certificate is issued to site {peer.name!r}, not to {claimed_site!r}"
    return None


class PeerAuthorization(grpc.ServerInterceptor):
    """Admit a call only if the caller's certificate role may use the method's service.

    `roles` maps a full method path ("/pkg.Service/Method") or a service's full name to the roles
    it admits, the method taking precedence; services not listed (health,
    reflection) admit every certificate the handshake accepted. `check(peer)` may refuse further
    (revocation) by returning (status, message). `open_methods` (full method paths) also admit
    callers without a certificate: only the enrolment port lets such callers in at all.
    """

    def __init__(self, roles: dict[str, set[str]],
                 check: Callable[[Peer], tuple[grpc.StatusCode, str] | None] | None = None,
                 open_methods: frozenset[str] = frozenset()):
        self.roles, self.check, self.open_methods = roles, check, open_methods

    def _refusal(self, method: str, context) -> tuple[grpc.StatusCode, str] | None:
        peer = peer_of(context)
        if peer is None:
            if method in self.open_methods:
                return None
            return (grpc.StatusCode.UNAUTHENTICATED,
                    f"{method} needs a client certificate from the federation CA; this port admits only "
                    f"{', '.join(sorted(self.open_methods)) or 'certified callers'} without one")
        service = method.rsplit("/", 2)[-2] if method.count("/") >= 2 else ""
        allowed = self.roles.get(method, self.roles.get(service))
        if allowed is not None and peer.role not in allowed:
            return (grpc.StatusCode.PERMISSION_DENIED,
                    f"{method} is not open to {peer.role} certificates ({peer.name!r}); it admits "
                    f"{', '.join(sorted(allowed))}")
        return self.check(peer) if self.check else None

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None:
            return None
        method = details.method

        def guard(context):
            refusal = self._refusal(method, context)
            if refusal:
                context.abort(*refusal)

        if handler.unary_unary:
            fn = handler.unary_unary
            return handler._replace(unary_unary=lambda req, ctx: (guard(ctx), fn(req, ctx))[1])
        if handler.stream_unary:
            fn = handler.stream_unary
            return handler._replace(stream_unary=lambda it, ctx: (guard(ctx), fn(it, ctx))[1])
        if handler.unary_stream:
            fn = handler.unary_stream

            def unary_stream(req, ctx):
                guard(ctx)
                yield from fn(req, ctx)
            return handler._replace(unary_stream=unary_stream)
        fn = handler.stream_stream

        def stream_stream(it, ctx):
            guard(ctx)
            yield from fn(it, ctx)
        return handler._replace(stream_stream=stream_stream)
