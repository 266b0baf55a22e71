"""Perturbation of shared embeddings before they leave a site (SF-UBM style).

Each row gets isotropic Gaussian noise scaled to the row's own norm, so the relative distortion,
and the cosine similarity it leaves, are the same for popular and rare items.
"""
from __future__ import annotations

import numpy as np


def perturb_rows(emb: np.ndarray, relative_noise: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Returns the perturbed matrix and the mean cosine similarity of original and perturbed rows."""
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    noise = rng.normal(size=emb.shape) * norms * relative_noise / np.sqrt(emb.shape[1])
    out = (emb + noise).astype(emb.dtype)
    valid = norms[:, 0] > 0
    cos = np.sum(emb[valid] * out[valid], axis=1) / (norms[valid, 0] * np.linalg.norm(out[valid], axis=1))
    return out, float(cos.mean()) if valid.any() else 1.0
