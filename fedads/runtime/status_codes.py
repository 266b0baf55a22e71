"""Mapping of the services' refusal kinds (store, aggregation) to gRPC statuses."""
from __future__ import annotations

import grpc

CODES = {
    "invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "precondition": grpc.StatusCode.FAILED_PRECONDITION,
    "unauthenticated": grpc.StatusCode.UNAUTHENTICATED,
    "permission": grpc.StatusCode.PERMISSION_DENIED,
    "not_found": grpc.StatusCode.NOT_FOUND,
    "exists": grpc.StatusCode.ALREADY_EXISTS,
}


def code_for(kind: str) -> grpc.StatusCode:
    return CODES.get(kind, grpc.StatusCode.INTERNAL)
