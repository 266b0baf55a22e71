"""One readable line for a failure, whatever raised it: stored reasons and printed errors never hold a repr."""
from __future__ import annotations

import grpc


def one_line(exc: BaseException, service: str = "") -> str:
    """`<service>: <STATUS>: <details>` for a gRPC error, `<Type>: <message>` otherwise; first line only."""
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        code = exc.code()
        details = (exc.details() or "").strip() or (code.name if code else "")
        if code == grpc.StatusCode.UNAVAILABLE:
            details = f"unreachable ({details})"
        elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
            details = "did not answer before the deadline"
        text = f"{service + ': ' if service else ''}{code.name if code else 'RPC'}: {details}"
    else:
        message = str(exc).strip()
        text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text.splitlines()[0][:500] if text else type(exc).__name__
