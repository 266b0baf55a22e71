"""The flat update vector every site sends and the aggregator sums (DESIGN §3).

A site sends one vector: each shared tensor's delta scaled by the site's weight for that
tensor's scope, followed by the weights themselves (one slot for `global`, one per group).
Summing such vectors and dividing each tensor by its scope's summed weight gives the
weighted average without the aggregator needing any individual weight, which is what lets
the same layout run unchanged behind secure-aggregation masking.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

GLOBAL = "global"
PRIVATE = "private"


class LayoutError(ValueError):
    pass


def parse_scope(scope: str) -> str:
    """Validate a scope string; returns it unchanged."""
    if scope == GLOBAL or scope == PRIVATE:
        return scope
    if scope.startswith("group:") and scope[6:].isdigit():
        return scope
    raise LayoutError(f"unknown parameter scope {scope!r}: expected 'global', 'group:<k>' or 'private'")


@dataclass(frozen=True)
class TensorSlot:
    name: str
    shape: tuple[int, ...]
    scope: str
    offset: int
    size: int
    statistic: bool = False  # the sites' weighted mean of a value (the manifest says so): no server step


class UpdateLayout:
    def __init__(self, specs: Iterable[tuple[str, Iterable[int], str]], statistics: Iterable[str] = ()):
        slots, offset, scopes, statistics = [], 0, set(), set(statistics)
        for name, shape, scope in sorted(specs, key=lambda s: s[0]):
            scope = parse_scope(scope)
            if scope == PRIVATE:
                raise LayoutError(f"tensor {name!r} is private and can never be part of a shared update")
            shape = tuple(int(d) for d in shape)
            size = int(np.prod(shape, dtype=np.int64)) if shape else 1
            slots.append(TensorSlot(name, shape, scope, offset, size, name in statistics))
            offset += size
            scopes.add(scope)
        self.slots: list[TensorSlot] = slots
        self.scopes: list[str] = [GLOBAL] + sorted((s for s in scopes if s != GLOBAL), key=lambda s: int(s[6:]))
        self.weight_offset = offset
        self.length = offset + len(self.scopes)
        self._scope_index = {s: i for i, s in enumerate(self.scopes)}

    @classmethod
    def from_manifest(cls, manifest: Mapping) -> "UpdateLayout":
        return cls(((t["name"], t["shape"], t["scope"]) for t in manifest["tensors"]),
                   statistics=(t["name"] for t in manifest["tensors"] if t.get("statistic")))

    def weight_slot(self, scope: str) -> int:
        return self.weight_offset + self._scope_index[scope]

    def pack(self, deltas: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
        """Build a site's vector: each delta times its scope's weight, then the weights."""
        names = {s.name for s in self.slots}
        unknown = set(deltas) - names
        if unknown:
            raise LayoutError(f"update has tensors the model does not share: {sorted(unknown)}")
        vec = np.zeros(self.length, dtype=np.float32)
        for slot in self.slots:
            delta = np.asarray(deltas[slot.name], dtype=np.float32)
            if delta.shape != slot.shape:
                raise LayoutError(f"tensor {slot.name!r} has shape {delta.shape}, the model has {slot.shape}")
            vec[slot.offset:slot.offset + slot.size] = delta.reshape(-1) * np.float32(weights.get(slot.scope, 0.0))
        for scope in self.scopes:
            vec[self.weight_slot(scope)] = weights.get(scope, 0.0)
        return vec

    def weights_of(self, vector: np.ndarray) -> dict[str, float]:
        return {scope: float(vector[self.weight_slot(scope)]) for scope in self.scopes}

    def apply(self, base: Mapping[str, np.ndarray], summed: np.ndarray, server_lr: float = 1.0,
              momentum: float = 0.0, previous: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """New parameters from the summed vectors: base + η·Σ w·Δ / Σ w per scope (η: server learning rate)
        + β·(base − previous), where previous is base's own parent (server momentum β, heavy ball: FedAvgM
        with its velocity read off the last published step, so no optimiser state outlives a round).

        A scope whose summed weight is zero (a group no site routed to) keeps its parameters. Statistics
        always take η = 1 and no momentum: they are the sites' weighted mean, not a trained step.
        """
        if summed.shape != (self.length,):
            raise LayoutError(f"summed vector has shape {summed.shape}, expected ({self.length},)")
        weights = self.weights_of(summed)
        out: dict[str, np.ndarray] = {}
        for slot in self.slots:
            old = np.asarray(base[slot.name])
            total = weights[slot.scope]
            if total > 0:
                eta = 1.0 if slot.statistic else server_lr
                step = (eta * summed[slot.offset:slot.offset + slot.size] / total).reshape(slot.shape)
                if momentum and previous is not None and not slot.statistic:
                    step = step + momentum * (old.astype(np.float64) - np.asarray(previous[slot.name], np.float64))
                out[slot.name] = (old.astype(np.float64) + step).astype(old.dtype)
            else:
                out[slot.name] = old.copy()
        return out
