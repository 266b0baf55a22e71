"""A site that keeps its local Adam state resumes it across rounds, keeps it on site, and never sends it."""
import numpy as np
import torch
from safetensors.torch import load_file

from admodels.models.fedads_model import ModelConfig, PrivateUserState, build_model
from admodels.training import LocalStep, TrainSettings
from client_agent.local_store import LocalStore
from simulation.runner import SimConfig, run

TINY = dict(sites=2, lr=1e-2, max_users=30, max_targets_per_user=5, model={"dim": 16, "ffn_hidden": 16})


def _adam_steps(workdir) -> dict[str, float]:
    """Each site's saved Adam step count (every parameter the same)."""
    out = {}
    for path in sorted((workdir / "sites").glob("*/state/optimizer.safetensors")):
        steps = {float(t) for k, t in load_file(str(path)).items() if k.endswith("/step")}
        assert len(steps) == 1
        out[path.parent.parent.name] = steps.pop()
    return out


def test_kept_state_resumes_across_rounds_and_a_restarted_one_is_not_stored(tmp_path):
    one = run(SimConfig(**TINY, rounds=1, keep_optimizer_state=True), tmp_path / "one", progress=False)
    two = run(SimConfig(**TINY, rounds=2, keep_optimizer_state=True), tmp_path / "two", progress=False)
    per_round = _adam_steps(tmp_path / "one")
    assert len(per_round) == 2 and all(s > 0 for s in per_round.values())
    assert _adam_steps(tmp_path / "two") == {site: 2 * s for site, s in per_round.items()}
    # Same first round either way: the state only matters from the second round on.
    assert one[0]["hr_at_10"] == two[0]["hr_at_10"]

    restarted = run(SimConfig(**TINY, rounds=2), tmp_path / "restart", progress=False)
    assert not list((tmp_path / "restart").rglob("optimizer.safetensors"))
    # (30 users: HR and NDCG are coarse and can coincide, so the CTR AUC over every candidate counts too.)
    assert any(restarted[1][k] != two[1][k] for k in ("hr_at_10", "ndcg_at_10", "ctr_auc"))


def _trained_step(config, users=4):
    model = build_model(config, seed=0)
    private = PrivateUserState(config, users, seed=0)
    step = LocalStep(model, private, TrainSettings(lr=1e-2))
    for p in list(model.parameters()) + list(private.parameters()):
        p.grad = torch.ones_like(p)
    step.opt.step()
    return step, private


def test_the_store_round_trips_the_state_for_the_same_users_only(tmp_path):
    config = ModelConfig(n_items=50, dim=16, ffn_hidden=16)
    step, _ = _trained_step(config)
    store = LocalStore(tmp_path)
    keys = np.array([3, 5, 8, 13])
    store.save_optimizer_state(step.state_dict(), keys)

    loaded = store.load_optimizer_state(keys)
    saved = step.state_dict()
    assert loaded.keys() == saved.keys()
    for i in saved:
        for name, tensor in saved[i].items():
            assert torch.equal(loaded[i][name], tensor)
    fresh, _ = _trained_step(config)
    assert fresh.load_state_dict(loaded)
    # The site's users changed, so its private rows restart and so must their moments.
    assert store.load_optimizer_state(np.array([3, 5, 8, 21])) is None


def test_state_for_other_parameters_is_refused_and_the_optimiser_restarts():
    small, _ = _trained_step(ModelConfig(n_items=50, dim=16, ffn_hidden=16))
    other, _ = _trained_step(ModelConfig(n_items=60, dim=16, ffn_hidden=16))
    before = {i: {k: v.clone() for k, v in s.items()} for i, s in other.state_dict().items()}
    assert not other.load_state_dict(small.state_dict())
    after = other.state_dict()
    assert all(torch.equal(after[i][k], v) for i, s in before.items() for k, v in s.items())


def test_dp_sgd_sites_resume_their_moments_and_spend_the_same_epsilon(tmp_path):
    # Under DP-SGD the moments come from noised gradients only: keeping them costs no privacy budget.
    dp = {"clip_norm": 0.3, "epsilon_budget": 8.0, "delta": 1e-5, "planned_rounds": 2, "unit": "record"}
    cfg = dict(TINY, rounds=2, batch_size=32, dp=dp)
    kept = run(SimConfig(**cfg, keep_optimizer_state=True), tmp_path / "kept", progress=False)
    one = run(SimConfig(**{**cfg, "rounds": 1}, keep_optimizer_state=True), tmp_path / "one", progress=False)
    restarted = run(SimConfig(**cfg), tmp_path / "restarted", progress=False)
    per_round = _adam_steps(tmp_path / "one")
    assert per_round and _adam_steps(tmp_path / "kept") == {site: 2 * s for site, s in per_round.items()}
    assert kept[-1]["max_epsilon"] == restarted[-1]["max_epsilon"]
    assert 7.9 < kept[-1]["max_epsilon"] <= 8.0
    assert one[0]["max_epsilon"] < kept[-1]["max_epsilon"]
