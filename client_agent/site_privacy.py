"""A site's differential privacy: its budget, its noise level, and where the noise goes.

Two units of protection (docs/privacy.md):
- "site": the site's whole update per round is clipped to C and gets N(0, σ²C²) per element before
  masking. Protects everything the site contributed to a round; needs many sites to average out.
- "record": DP-SGD during local training (privacy.dp.dpsgd, opacus's DPOptimizer): every step
  clips each training record's gradient to C and adds N(0, σ²C²) to their sum over a Poisson sample
  at rate q. Protects any single interaction; the round's release composes `steps` sampled events.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from privacy.dp.accountant import SiteBudget, calibrate_noise
from privacy.dp.dpsgd import steps_per_epoch
from privacy.dp.mechanism import add_gaussian_noise, clip_update

UNITS = ("site", "record")


class BudgetExhausted(Exception):
    pass


class SitePrivacy:
    """Off when clip_norm is 0. σ is fixed, or calibrated so `planned_rounds` rounds spend the budget.

    A site with a larger budget (or fewer planned rounds) takes less noise; the noise-weighted
    aggregation then gives its cleaner update more weight (w ∝ n/σ²).
    """

    def __init__(self, state_dir: Path, clip_norm: float = 0.0, epsilon_budget: float = 0.0, delta: float = 1e-5,
                 noise_multiplier: float = 0.0, planned_rounds: int = 10, unit: str = "site"):
        if unit not in UNITS:
            raise ValueError(f"dp_unit must be one of {', '.join(UNITS)}, not {unit!r}")
        self.enabled = clip_norm > 0
        self.clip_norm, self.delta, self.unit = clip_norm, delta, unit
        self.planned_rounds, self.fixed_noise = planned_rounds, noise_multiplier
        self.path = Path(state_dir) / "privacy.json"
        # One round's release: `steps` Gaussian events on samples at rate q (site level: one, q = 1).
        self.sampling_rate, self.steps = 1.0, 1
        if not self.enabled:
            return
        if epsilon_budget <= 0:
            raise ValueError("dp_epsilon_budget must be positive when dp_clip_norm is set")
        self.budget = SiteBudget.load(self.path, epsilon_budget, delta)
        self.noise_multiplier = noise_multiplier or (
            calibrate_noise(epsilon_budget, delta, planned_rounds, 1.0) if unit == "site" else 0.0)

    @property
    def record_level(self) -> bool:
        return self.enabled and self.unit == "record"

    def configure_records(self, n_records: int, batch_size: int, epochs: int, max_steps: int = 0) -> None:
        """Record level: the round's sampling rate and step count follow from the site's data (and a
        round's step cap, if any); σ is calibrated on them so `planned_rounds` such rounds spend the budget."""
        q = min(1.0, batch_size / max(n_records, 1))
        steps = epochs * steps_per_epoch(q)
        if max_steps > 0:
            steps = min(steps, max_steps)
        if (q, steps) != (self.sampling_rate, self.steps) or not self.noise_multiplier:
            self.sampling_rate, self.steps = q, steps
            self.noise_multiplier = self.fixed_noise or calibrate_noise(
                self.budget.epsilon_budget, self.delta, self.planned_rounds, q, steps)

    def check(self) -> float:
        """ε after one more round; raises BudgetExhausted if that would exceed the budget. At record
        level before the first round (σ not yet known) it returns the ε spent so far."""
        if not self.noise_multiplier:
            return self.budget.spent()
        after = self.budget.spent_if(self.noise_multiplier, self.sampling_rate, self.steps)
        if after > self.budget.epsilon_budget + 1e-9:
            raise BudgetExhausted(f"privacy budget exhausted: one more round would spend ε={after:.3f} of "
                                  f"{self.budget.epsilon_budget:.3f} (δ={self.delta:g}); this site refuses")
        return after

    def privatise(self, deltas: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
        if self.unit == "record":
            return deltas  # already private: DP-SGD noised every step; the update is post-processing
        clipped = clip_update(deltas, self.clip_norm).deltas
        return add_gaussian_noise(clipped, self.clip_norm, self.noise_multiplier, rng)

    def commit(self) -> float:
        """Record the round's release in the ledger (before it leaves the site); returns ε spent so far."""
        spent = self.budget.record(self.noise_multiplier, self.sampling_rate, self.steps)
        self.budget.save(self.path)
        return spent

    @property
    def noise_std(self) -> float:
        return self.noise_multiplier * self.clip_norm
