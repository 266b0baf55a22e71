"""Hash helpers used for model files, uploads and secrets."""
from __future__ import annotations

import hashlib
import hmac
import secrets


def sha256_hex(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_matches(secret: str, expected_sha256: str) -> bool:
    return hmac.compare_digest(sha256_hex(secret.encode()), expected_sha256)
