"""Fixed-point encoding into Z_2^k with stochastic rounding, sized so a sum of n inputs cannot wrap.

Arithmetic runs in numpy uint64 (which wraps mod 2^64); for k < 64 results are reduced mod 2^k,
which 2^64 is a multiple of, and travel packed in k/8 bytes per element.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FixedPoint:
    """x ∈ [-clip, clip] ↦ round_stochastic(x·scale) + C ∈ [0, 2C] with C = clip·scale.

    `scale` is the largest power of two with n_max·(2C + 1) < 2^(k−1), so the modular sum of up to
    n_max encodings minus n·C is the exact signed integer sum. Stochastic rounding keeps each
    encoding unbiased; a decoded sum of n inputs is within n/scale of the true sum per element.
    """
    clip: float
    n_max: int
    bits: int = 64

    def __post_init__(self):
        if self.bits not in (32, 40, 48, 56, 64):
            raise ValueError("modulus bits must be one of 32, 40, 48, 56, 64")
        if self.scale < 1:
            raise ValueError(f"{self.bits}-bit arithmetic cannot hold {self.n_max} inputs of range ±{self.clip}")

    @property
    def scale(self) -> float:
        room = (2.0 ** (self.bits - 1)) / (self.n_max * (2.0 * self.clip + 1.0))
        return float(2.0 ** np.floor(np.log2(room)))

    @property
    def offset(self) -> int:
        return int(round(self.clip * self.scale))

    @property
    def word_mask(self) -> np.uint64:
        return np.uint64((1 << self.bits) - 1)

    @property
    def word_bytes(self) -> int:
        return self.bits // 8

    def reduce(self, words: np.ndarray) -> np.ndarray:
        return words if self.bits == 64 else words & self.word_mask

    def error_bound(self, n: int) -> float:
        """Worst case per element: rounding of n inputs, plus float64 rounding of the decoded sum."""
        return n / self.scale + n * self.clip * 2.0 ** -52

    def encode(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        scaled = np.clip(np.asarray(x, dtype=np.float64), -self.clip, self.clip) * self.scale
        floor = np.floor(scaled)
        q = floor.astype(np.int64) + (rng.random(scaled.shape) < (scaled - floor))
        return (q + self.offset).astype(np.uint64)

    def decode_sum(self, total: np.ndarray, n: int) -> np.ndarray:
        shifted = self.reduce(total - np.uint64(n * self.offset % (1 << 64)))
        if self.bits == 64:
            signed = shifted.view(np.int64)
        else:
            signed = shifted.astype(np.int64)
            signed[signed >= (1 << (self.bits - 1))] -= 1 << self.bits
        return signed.astype(np.float64) / self.scale

    def pack(self, words: np.ndarray) -> bytes:
        """Little-endian words, k/8 bytes each (the upload format)."""
        raw = np.ascontiguousarray(words, dtype="<u8").view(np.uint8).reshape(-1, 8)
        return raw[:, :self.word_bytes].tobytes()

    def unpack(self, data: bytes) -> np.ndarray:
        if len(data) % self.word_bytes:
            raise ValueError(f"masked input length {len(data)} is not a multiple of {self.word_bytes} bytes")
        raw = np.zeros((len(data) // self.word_bytes, 8), dtype=np.uint8)
        raw[:, :self.word_bytes] = np.frombuffer(data, dtype=np.uint8).reshape(-1, self.word_bytes)
        return raw.view("<u8").reshape(-1)
