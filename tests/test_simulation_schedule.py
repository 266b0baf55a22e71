"""The simulation's local learning-rate schedule (what bench/accuracy --final-lr sends each round)."""
import math

from client_agent.site_trainer import SiteTrainer
from simulation.runner import SimConfig, round_lr, run


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


def test_personalisation_fine_tunes_only_the_final_model_at_the_schedules_last_rate(tmp_path, monkeypatch):
    seen = []
    evaluate = SiteTrainer.evaluate

    def recording(self, manifest, weights, tune_cfg=None, *args, **kwargs):
        seen.append(tune_cfg)
        return evaluate(self, manifest, weights, tune_cfg, *args, **kwargs)

    monkeypatch.setattr(SiteTrainer, "evaluate", recording)
    cfg = SimConfig(sites=2, rounds=3, lr=1e-2, final_lr=1e-3, max_users=30, max_targets_per_user=5,
                    personalise_epochs=1, model={"dim": 16, "ffn_hidden": 16})
    history = run(cfg, tmp_path / "sim", progress=False)
    assert [h["round"] for h in history] == [1, 2, 3]
    assert len(seen) == 6 and all(tune is None for tune in seen[:-2])  # rounds 1 and 2: plain evaluation
    for tune in seen[-2:]:
        assert tune.epochs == 1 and math.isclose(tune.learning_rate, 1e-3)
    assert "personalised_hr_at_10" in history[-1] and "personalised_hr_at_10" not in history[0]
