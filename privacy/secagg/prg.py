"""Mask expansion: a 256-bit seed → uint64 words from the ChaCha20 keystream (cryptography/OpenSSL).

The full 256-bit seed keys the cipher; nothing is folded to 32 bits.
"""
from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

_NONCE = b"\x00" * 16  # each seed keys exactly one stream, so a fixed nonce is safe


def expand_mask(seed: bytes, length: int) -> np.ndarray:
    if len(seed) != 32:
        raise ValueError("mask seeds are 32 bytes")
    encryptor = Cipher(algorithms.ChaCha20(seed, _NONCE), mode=None).encryptor()
    return np.frombuffer(encryptor.update(bytes(8 * length)), dtype="<u8").copy()
