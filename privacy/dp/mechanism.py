"""The Gaussian mechanism on a site's shared update: clip the whole update to L2 norm C, add N(0, σ²C²).

The protected unit is the site: the update is clipped as one vector, so changing everything a site
holds moves it by at most C (add/remove) before noise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClipResult:
    deltas: dict[str, np.ndarray]
    norm_before: float
    scale: float


def clip_update(deltas: dict[str, np.ndarray], clip_norm: float) -> ClipResult:
    """Scale all tensors together so the concatenated update has L2 norm ≤ clip_norm."""
    if clip_norm <= 0:
        raise ValueError("clip norm must be positive")
    norm = float(np.sqrt(sum(float(np.sum(np.square(d, dtype=np.float64))) for d in deltas.values())))
    scale = min(1.0, clip_norm / norm) if norm > 0 else 1.0
    return ClipResult({k: (v * scale).astype(v.dtype) for k, v in deltas.items()}, norm, scale)


def add_gaussian_noise(deltas: dict[str, np.ndarray], clip_norm: float, noise_multiplier: float,
                       rng: np.random.Generator) -> dict[str, np.ndarray]:
    std = clip_norm * noise_multiplier
    return {k: (v + rng.normal(0.0, std, size=v.shape)).astype(v.dtype) for k, v in deltas.items()}
