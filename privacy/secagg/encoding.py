"""Fixed-point encoding into Z_2^64 with stochastic rounding, sized so a sum of n inputs cannot wrap."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODULUS_BITS = 64


@dataclass(frozen=True)
class FixedPoint:
    """x ∈ [-clip, clip] ↦ round_stochastic(x·scale) + C ∈ [0, 2C] with C = clip·scale.

    `scale` is the largest power of two with n_max·(2C + 1) < 2^63, so the modular sum of up to
    n_max encodings minus n·C is the exact signed integer sum. Stochastic rounding keeps each
    encoding unbiased; a decoded sum of n inputs is within n/scale of the true sum per element.
    """
    clip: float
    n_max: int

    @property
    def scale(self) -> float:
        room = (2.0 ** (MODULUS_BITS - 1)) / (self.n_max * (2.0 * self.clip + 1.0))
        return float(2.0 ** np.floor(np.log2(room)))

    @property
    def offset(self) -> int:
        return int(round(self.clip * self.scale))

    def error_bound(self, n: int) -> float:
        return n / self.scale

    def encode(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        scaled = np.clip(np.asarray(x, dtype=np.float64), -self.clip, self.clip) * self.scale
        floor = np.floor(scaled)
        q = floor.astype(np.int64) + (rng.random(scaled.shape) < (scaled - floor))
        return (q + self.offset).astype(np.uint64)

    def decode_sum(self, total: np.ndarray, n: int) -> np.ndarray:
        signed = (total - np.uint64(n * self.offset % (1 << 64))).view(np.int64)
        return signed.astype(np.float64) / self.scale
