"""Splitting large payloads into stream chunks well below gRPC's 4 MiB message limit."""
from __future__ import annotations

from typing import Iterator

DEFAULT_CHUNK_BYTES = 1 << 20  # 1 MiB: far from the 4 MiB default, few enough messages for 200 MB models
MAX_CHUNK_BYTES = 2 << 20


def iter_chunks(payload: bytes | memoryview, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """Yield (offset, bytes) slices of payload; an empty payload yields nothing."""
    if chunk_bytes <= 0 or chunk_bytes > MAX_CHUNK_BYTES:
        chunk_bytes = DEFAULT_CHUNK_BYTES
    view = memoryview(payload)
    for offset in range(0, len(view), chunk_bytes):
        yield offset, bytes(view[offset:offset + chunk_bytes])
