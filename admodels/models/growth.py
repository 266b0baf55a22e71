"""Growing a model with its catalogue: tables sized from the catalogue gain rows, nothing else changes.

A catalogue only appends (no index moves), so the old rows keep their meaning; new rows get the same
initialisation a fresh model would give them (seeded), and every other tensor is copied unchanged.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from admodels.models.fedads_model import ModelConfig, build_model


def grow_tensors(tensors: Mapping[str, np.ndarray], old: ModelConfig, new: ModelConfig,
                 seed: int = 0) -> dict[str, np.ndarray]:
    fresh = build_model(new, seed=seed).publication()["tensors"]
    if set(fresh) != set(tensors):
        raise ValueError("the grown model's tensors differ from the old model's; only sizes may change")
    out = {}
    for name, value in tensors.items():
        target = fresh[name]
        if target.shape == value.shape:
            out[name] = np.array(value, copy=True)
        elif target.shape[1:] == value.shape[1:] and target.shape[0] >= value.shape[0]:
            grown = np.array(target, copy=True)
            grown[:value.shape[0]] = value
            out[name] = grown
        else:
            raise ValueError(f"tensor {name}: cannot grow {value.shape} to {target.shape} (only rows may be added)")
    return out
