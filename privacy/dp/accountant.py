"""Per-site privacy accounting with Google's dp-accounting (RDP), never a hand-written formula.

Each round a site releases one Gaussian-mechanism output (noise multiplier σ, sensitivity = clip
norm). When the coordinator samples sites at random with rate q, the round is a Poisson-sampled
Gaussian event; ε(δ) composes over every round the site took part in.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import dp_accounting as dpa
from dp_accounting.rdp import RdpAccountant

# Integer orders avoid the fractional-order series that dp-accounting cannot always converge.
ORDERS = list(range(2, 64)) + [80, 96, 128, 192, 256, 512, 1024]


def round_event(noise_multiplier: float, sampling_rate: float, steps: int = 1) -> dpa.DpEvent:
    """One round's release: `steps` Gaussian mechanisms, each on a Poisson sample at `sampling_rate`
    (site-level DP: one step, sampled by site selection; record-level DP-SGD: one per local step)."""
    gaussian = dpa.GaussianDpEvent(noise_multiplier)
    event = gaussian if sampling_rate >= 1.0 else dpa.PoissonSampledDpEvent(sampling_rate, gaussian)
    return event if steps == 1 else dpa.SelfComposedDpEvent(event, steps)


def epsilon_for(history: list[tuple], delta: float) -> float:
    """ε(δ) after rounds given as (noise_multiplier, sampling_rate[, steps])."""
    acc = RdpAccountant(orders=ORDERS)
    for entry in history:
        acc.compose(round_event(*entry))
    return float(acc.get_epsilon(delta))


def calibrate_noise(target_epsilon: float, delta: float, rounds: int, sampling_rate: float, steps: int = 1,
                    lo: float = 0.05, hi: float = 200.0) -> float:
    """The smallest noise multiplier whose `rounds` rounds stay within target_epsilon (bisection)."""
    def eps(sigma):
        return epsilon_for([(sigma, sampling_rate, steps * rounds)], delta)

    if eps(hi) > target_epsilon:
        raise ValueError(f"ε={target_epsilon} over {rounds} rounds is out of reach even with σ={hi}")
    for _ in range(40):
        mid = (lo + hi) / 2
        if eps(mid) > target_epsilon:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass
class SiteBudget:
    """A site's privacy ledger, kept on site (privacy.json in its state folder)."""
    epsilon_budget: float
    delta: float
    history: list[tuple] = field(default_factory=list)  # (σ, q) or (σ, q, steps) per round

    def spent(self) -> float:
        return epsilon_for(self.history, self.delta) if self.history else 0.0

    def spent_if(self, noise_multiplier: float, sampling_rate: float, steps: int = 1) -> float:
        return epsilon_for(self.history + [(noise_multiplier, sampling_rate, steps)], self.delta)

    def record(self, noise_multiplier: float, sampling_rate: float, steps: int = 1) -> float:
        self.history.append((noise_multiplier, sampling_rate, steps))
        return self.spent()

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"epsilon_budget": self.epsilon_budget, "delta": self.delta,
                                   "history": self.history}))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, epsilon_budget: float, delta: float) -> "SiteBudget":
        if path.exists():
            data = json.loads(path.read_text())
            if data["delta"] == delta:
                return cls(epsilon_budget, delta, [tuple(h) for h in data["history"]])
        return cls(epsilon_budget, delta)
