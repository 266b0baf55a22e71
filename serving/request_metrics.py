"""Every serving request counted by its outcome, the gRPC status it ended with (ok, invalid_argument,
not_found, ...), so an error-rate alert sees refused requests too."""
from __future__ import annotations

import grpc

from serving.service import REQUESTS


def _outcome(context) -> str:
    code = context.code() if hasattr(context, "code") else None
    return "ok" if code in (None, grpc.StatusCode.OK) else code.name.lower()


class RequestOutcomes(grpc.ServerInterceptor):
    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        for kind, wrap in (("unary_unary", grpc.unary_unary_rpc_method_handler),
                           ("stream_unary", grpc.stream_unary_rpc_method_handler)):
            inner = getattr(handler, kind)
            if inner is not None:
                return wrap(_counted(method, inner), request_deserializer=handler.request_deserializer,
                            response_serializer=handler.response_serializer)
        return handler


def _counted(method: str, inner):
    def counted(request, context):
        try:
            response = inner(request, context)
        except Exception:
            code = _outcome(context)
            REQUESTS.labels(method, "internal" if code == "ok" else code).inc()
            raise
        REQUESTS.labels(method, _outcome(context)).inc()
        return response
    return counted
