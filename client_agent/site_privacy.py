"""A site's differential privacy: its budget, its noise level, and the clip-and-noise step on each update."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from privacy.dp.accountant import SiteBudget, calibrate_noise
from privacy.dp.mechanism import add_gaussian_noise, clip_update


class BudgetExhausted(Exception):
    pass


class SitePrivacy:
    """Off when clip_norm is 0. σ is fixed, or calibrated so `planned_rounds` rounds spend the budget.

    A site with a larger budget (or fewer planned rounds) takes less noise; the noise-weighted
    aggregation then gives its cleaner update more weight (w ∝ n/σ²).
    """

    def __init__(self, state_dir: Path, clip_norm: float = 0.0, epsilon_budget: float = 0.0, delta: float = 1e-5,
                 noise_multiplier: float = 0.0, planned_rounds: int = 10):
        self.enabled = clip_norm > 0
        self.clip_norm, self.delta = clip_norm, delta
        self.path = Path(state_dir) / "privacy.json"
        if not self.enabled:
            return
        if epsilon_budget <= 0:
            raise ValueError("dp_epsilon_budget must be positive when dp_clip_norm is set")
        self.budget = SiteBudget.load(self.path, epsilon_budget, delta)
        self.noise_multiplier = noise_multiplier or calibrate_noise(epsilon_budget, delta, planned_rounds, 1.0)

    def check(self) -> float:
        """ε after one more round; raises BudgetExhausted if that would exceed the budget."""
        after = self.budget.spent_if(self.noise_multiplier, 1.0)
        if after > self.budget.epsilon_budget + 1e-9:
            raise BudgetExhausted(f"privacy budget exhausted: one more round would spend ε={after:.3f} of "
                                  f"{self.budget.epsilon_budget:.3f} (δ={self.delta:g}); this site refuses")
        return after

    def privatise(self, deltas: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
        clipped = clip_update(deltas, self.clip_norm).deltas
        return add_gaussian_noise(clipped, self.clip_norm, self.noise_multiplier, rng)

    def commit(self) -> float:
        """Record the round's release in the ledger (before it leaves the site); returns ε spent so far."""
        spent = self.budget.record(self.noise_multiplier, 1.0)
        self.budget.save(self.path)
        return spent

    @property
    def noise_std(self) -> float:
        return self.noise_multiplier * self.clip_norm
