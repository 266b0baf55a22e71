"""Shamir t-of-n secret sharing of 32-byte secrets over the prime field GF(2^521 − 1)."""
from __future__ import annotations

import secrets

PRIME = 2 ** 521 - 1  # a Mersenne prime well above any 256-bit secret


class ReconstructionError(ValueError):
    pass


def split(secret: bytes, threshold: int, holders: list[int]) -> dict[int, int]:
    """Shares of secret for holders (distinct non-zero field points); any `threshold` of them rebuild it."""
    if not 1 <= threshold <= len(holders):
        raise ValueError(f"threshold {threshold} must lie in 1..{len(holders)}")
    if len(set(holders)) != len(holders) or any(h <= 0 for h in holders):
        raise ValueError("holder points must be distinct and positive")
    coeffs = [int.from_bytes(secret, "big")] + [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    shares = {}
    for x in holders:
        y = 0
        for c in reversed(coeffs):
            y = (y * x + c) % PRIME
        shares[x] = y
    return shares


def combine(shares: dict[int, int], threshold: int, length: int = 32) -> bytes:
    """Lagrange interpolation at 0 from at least `threshold` shares."""
    if len(shares) < threshold:
        raise ReconstructionError(f"{len(shares)} shares cannot rebuild a secret that needs {threshold}")
    points = list(shares.items())[:threshold]
    secret = 0
    for i, (xi, yi) in enumerate(points):
        num, den = 1, 1
        for j, (xj, _) in enumerate(points):
            if i != j:
                num = num * (-xj) % PRIME
                den = den * (xi - xj) % PRIME
        secret = (secret + yi * num * pow(den, -1, PRIME)) % PRIME
    if secret >= 1 << (8 * length):
        raise ReconstructionError("shares do not interpolate to a valid secret (tampered or inconsistent)")
    return secret.to_bytes(length, "big")


def share_to_bytes(y: int) -> bytes:
    return y.to_bytes(66, "big")


def share_from_bytes(data: bytes) -> int:
    if len(data) != 66:
        raise ValueError("a share is 66 bytes")
    return int.from_bytes(data, "big")
