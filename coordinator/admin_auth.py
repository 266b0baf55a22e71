"""The operator API's bearer token: created by the coordinator, presented by coordinatorctl.

Every AdminService call must carry `authorization: Bearer <token>`; the site API authenticates
separately (site secrets), and the registry is read-only.
"""
from __future__ import annotations

import hmac
import os
from pathlib import Path

import grpc

from fedads.runtime.hashing import new_secret

ADMIN_PREFIX = "/fedads.v1.AdminService/"
HEADER = "authorization"


def load_or_create_token(path: str | Path) -> str:
    path = Path(path)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = new_secret()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


def read_token(path: str | Path) -> str:
    path = Path(path)
    return path.read_text().strip() if path.exists() else ""


def _deny(message: str):
    def handler(request_or_iterator, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
    return grpc.unary_unary_rpc_method_handler(handler)


class AdminTokenCheck(grpc.ServerInterceptor):
    def __init__(self, token: str):
        self._expected = f"Bearer {token}"

    def intercept_service(self, continuation, handler_call_details):
        if not handler_call_details.method.startswith(ADMIN_PREFIX):
            return continuation(handler_call_details)
        got = dict(handler_call_details.invocation_metadata or ()).get(HEADER, "")
        if not hmac.compare_digest(got, self._expected):
            handler = continuation(handler_call_details)
            message = ("admin token missing or wrong: pass --admin-token-file with the coordinator's admin token"
                       if got else "admin token required: pass --admin-token-file (the coordinator writes it)")
            if handler is not None and handler.response_streaming:
                def stream(request, context):
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
                    yield  # pragma: no cover
                return grpc.unary_stream_rpc_method_handler(stream)
            return _deny(message)
        return continuation(handler_call_details)


class _Metadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    def __init__(self, token: str):
        self._md = [(HEADER, f"Bearer {token}")] if token else []

    def _details(self, d):
        md = list(d.metadata or []) + self._md
        return d._replace(metadata=md) if hasattr(d, "_replace") else _Details(d, md)

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)


class _Details(grpc.ClientCallDetails):
    def __init__(self, d, metadata):
        self.method, self.timeout, self.metadata = d.method, d.timeout, metadata
        self.credentials, self.wait_for_ready, self.compression = d.credentials, d.wait_for_ready, d.compression


def admin_channel(channel: grpc.Channel, token: str) -> grpc.Channel:
    return grpc.intercept_channel(channel, _Metadata(token))
