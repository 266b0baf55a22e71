"""Training seeds: a second seed retrains on the same split and test, and the report reads ratios off means."""
import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from bench.accuracy import main
from client_agent.site_trainer import SiteTrainer
from simulation.runner import SimConfig, run

TINY = dict(sites=2, rounds=1, lr=1e-2, max_users=30, max_targets_per_user=5, model={"dim": 16, "ffn_hidden": 16})


def _initial_weights(workdir):
    return load_file(str(next((workdir / "registry").rglob("*.safetensors"))))


def test_a_training_seed_changes_the_initial_model_but_not_the_evaluation_candidates(tmp_path, monkeypatch):
    eval_seeds = []
    init = SiteTrainer.__init__

    def recording(self, *args, **kwargs):
        init(self, *args, **kwargs)
        eval_seeds.append(self.eval_seed)

    monkeypatch.setattr(SiteTrainer, "__init__", recording)
    histories, initial = {}, {}
    for seed in (0, 1):
        cfg = SimConfig(**{**TINY, "rounds": 0}, train_seed=seed)
        run(cfg, tmp_path / f"s{seed}", progress=False)
        initial[seed] = _initial_weights(tmp_path / f"s{seed}")
    assert initial[0].keys() == initial[1].keys()
    assert any(not np.array_equal(initial[0][k], initial[1][k]) for k in initial[0])
    assert set(eval_seeds) == {0}  # the held-out candidates follow the data seed only

    for name, seed in (("a", 1), ("b", 1)):
        histories[name] = run(SimConfig(**TINY, train_seed=seed), tmp_path / name, progress=False)
    assert histories["a"] == histories["b"]  # a training seed is a seed: the same one reproduces the run


def _result(mode, seed, hr, tuned=None):
    last = {"round": 2, "hr_at_10": hr, "ndcg_at_10": hr / 2}
    if tuned is not None:
        last["personalised_hr_at_10"], last["personalised_ndcg_at_10"] = tuned, tuned / 2
    config = {"dataset": "ml-100k", "sites": 8 if mode == "federated" else 1, "partition": "zip_region",
              "rounds": 2, "epochs": 1, "lr": 0.01, "max_targets_per_user": 0, "personalise_epochs": 1,
              "train_seed": seed}
    return {"dataset": "ml-100k", "model": "full", "mode": mode, "config": config,
            "history": [{"round": 1, "hr_at_10": hr / 2, "ndcg_at_10": hr / 4}, last]}


def test_the_seed_summary_divides_means_over_seeds():
    from bench.accuracy import seed_stats

    results = [_result("centralized", 0, 0.76), _result("centralized", 1, 0.74),
               _result("federated", 0, 0.74, 0.75), _result("federated", 1, 0.72, 0.73)]
    rows = {r["mode"]: r for r in seed_stats(results, lambda r: (r["model"], r["config"]["max_targets_per_user"]))}
    fed, central = rows["federated"], rows["centralized"]
    assert fed["seeds"] == [0, 1] and central["hr_at_10"]["mean"] == pytest.approx(0.75)
    hr, ndcg = fed["hr_at_10"], fed["ndcg_at_10"]
    # centralized mean 0.75; federated mean 0.73 → 0.9733, personalised 0.74 → 0.9867; sd of (0.74, 0.72) = 0.0141
    assert hr["mean"] == pytest.approx(0.73) and hr["sd"] == pytest.approx(0.01414, abs=1e-5)
    assert hr["ratio"] == pytest.approx(0.73 / 0.75) and hr["tuned_ratio"] == pytest.approx(0.74 / 0.75)
    # NDCG is read the same way: centralized mean 0.375, federated 0.365, personalised 0.37
    assert ndcg["mean"] == pytest.approx(0.365) and ndcg["tuned_mean"] == pytest.approx(0.37)
    assert ndcg["ratio"] == pytest.approx(0.365 / 0.375)
    assert central["hr_at_10"]["tuned_mean"] is None and central["hr_at_10"]["tuned_ratio"] is None


def test_the_report_is_written_from_the_stored_runs(tmp_path):
    results = [_result("centralized", 0, 0.76), _result("federated", 0, 0.74), _result("federated", 1, 0.72)]
    path = tmp_path / "runs.json"
    path.write_text(json.dumps(results))
    assert main(["--dataset", "ml-100k", "--from-json", str(path), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "accuracy_ml-100k.md").stat().st_size > 0
