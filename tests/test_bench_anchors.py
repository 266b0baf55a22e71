"""bench/anchors and bench/flower_throughput configure what they claim: one client per user, the
holdout asked for, and for Flower the very TrainConfig FedAds sends."""
from __future__ import annotations

from bench.anchors import config_from, parse
from bench.flower_throughput import TRAIN_FIELDS, flower_task
from simulation.runner import SimConfig, train_config


def test_anchors_runs_one_client_per_user_on_the_split_and_schedule_asked_for():
    cfg = config_from(parse(["--holdout", "test", "--rounds", "7", "--clients-per-round", "64", "--lr", "0.02",
                             "--final-lr", "0.001", "--max-targets-per-user", "0", "--server-lr", "2"]))
    assert cfg.partition == "user" and cfg.holdout == "test" and cfg.rounds == 7 and cfg.clients_per_round == 64
    assert (cfg.lr, cfg.final_lr, cfg.max_targets_per_user, cfg.server_lr) == (0.02, 0.001, 0, 2.0)
    assert config_from(parse([])).holdout == "validation"  # schedules are chosen without the test item


def test_flower_clients_get_the_sites_and_the_train_config_fedads_sends(tmp_path):
    cfg = SimConfig(partition="user", max_users=4, rounds=2, lr=0.02, batch_size=16, clients_per_round=2,
                    model={"dim": 16, "ffn_hidden": 16})
    task = flower_task(cfg, tmp_path / "fl", clients=2, num_cpus=1)
    assert len(task["sites"]) == 4 and all((tmp_path / "fl" / "sites" / s / "data").is_dir() for s in task["sites"])
    sent = train_config(cfg, 1)
    assert task["train"] == {f: getattr(sent, f) for f in TRAIN_FIELDS}
    assert task["train"]["learning_rate"] == 0.02 and task["train"]["batch_size"] == 16
