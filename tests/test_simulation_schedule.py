"""The simulation's local learning-rate schedule (what bench/accuracy --final-lr sends each round)."""
import math

from simulation.runner import SimConfig, round_lr


def test_cosine_schedule_runs_from_lr_to_final_lr_and_never_rises():
    cfg = SimConfig(rounds=6, lr=1e-2, final_lr=5e-4)
    lrs = [round_lr(cfg, r) for r in range(1, cfg.rounds + 1)]
    assert math.isclose(lrs[0], 1e-2) and math.isclose(lrs[-1], 5e-4)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    # halfway through the rounds the cosine is at the midpoint of the two rates
    assert math.isclose(round_lr(SimConfig(rounds=5, lr=1e-2, final_lr=2e-3), 3), (1e-2 + 2e-3) / 2)


def test_without_final_lr_the_rate_is_constant():
    cfg = SimConfig(rounds=4, lr=3e-3)
    assert [round_lr(cfg, r) for r in range(1, 5)] == [3e-3] * 4
    assert round_lr(SimConfig(rounds=1, lr=3e-3, final_lr=1e-4), 1) == 3e-3
