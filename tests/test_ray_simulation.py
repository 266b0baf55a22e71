"""The simulation on Ray: the same published model as in process, seeded sampling, and dead workers."""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import pytest
import ray
import torch

from fedads.runtime.registry import ModelRegistry
from simulation.client_state import ClientState
from simulation.ray_backend import RayOptions, run_ray
from simulation.runner import SimConfig, run, sample_clients

# 50 one-user ML-100K clients, half of them sampled per round.
CFG = dict(partition="user", max_users=50, lr=1e-2, batch_size=64, max_targets_per_user=5, client_fraction=0.5,
           model={"dim": 16, "ffn_hidden": 16})


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _published(workdir: Path) -> tuple[int, dict]:
    manifest, tensors = ModelRegistry(workdir / "registry").load(0)
    return manifest["version"], tensors


def _in_process(cfg: SimConfig, workdir: Path) -> list[dict]:
    # Ray runs one client per single-threaded worker; the reference adds in the same thread count, since
    # a multi-threaded matmul may sum in another order.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run(cfg, workdir, progress=False)
    finally:
        torch.set_num_threads(threads)


def _assert_same_model(a: Path, b: Path) -> None:
    (va, ta), (vb, tb) = _published(a), _published(b)
    assert va == vb and ta.keys() == tb.keys()
    for k in ta:
        assert np.array_equal(ta[k], tb[k]), k


def kill_once(marker: str, site_id: str, r: int, site: str) -> None:
    """In the worker: the first time `site_id` has committed its round, the worker process dies."""
    if site == site_id and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os._exit(1)


def test_ray_run_publishes_exactly_the_in_process_model(tmp_path, local_ray):
    cfg = SimConfig(**CFG, rounds=2)
    expected = _in_process(cfg, tmp_path / "inproc")
    history = run_ray(cfg, tmp_path / "ray", RayOptions(clients_per_task=4, progress=False))
    _assert_same_model(tmp_path / "inproc", tmp_path / "ray")
    assert [h["sites_trained"] for h in history] == [h["sites_trained"] for h in expected] == [25, 25]
    for got, want in zip(history, expected):
        assert {k: got[k] for k in want} == want
        assert got["dropped"] == [] and got["clients_sampled"] == 25
    logged = [json.loads(line) for line in (tmp_path / "ray" / "history.jsonl").read_text().splitlines()]
    assert logged == history


def test_ray_run_through_secure_aggregation_publishes_the_in_process_model(tmp_path, local_ray):
    # Masks cancel exactly and the encoding's rounding is seeded by the round, so SecAgg+ keeps equality.
    cfg = SimConfig(**CFG, rounds=1, secure=True)
    _in_process(cfg, tmp_path / "inproc")
    (record,) = run_ray(cfg, tmp_path / "ray", RayOptions(clients_per_task=8, progress=False))
    _assert_same_model(tmp_path / "inproc", tmp_path / "ray")
    assert record["sites_trained"] == 25


def test_client_sampling_is_seeded_and_reproducible():
    ids = [f"site-{i:02d}" for i in range(1, 51)]
    cfg = SimConfig(client_fraction=0.2)
    first = sample_clients(cfg, ids, 1)
    assert first == sample_clients(SimConfig(client_fraction=0.2), ids, 1) and len(first) == 10
    assert first == sorted(first, key=ids.index)  # site order, whatever order the draw came in
    assert sample_clients(cfg, ids, 2) != first
    assert sample_clients(SimConfig(client_fraction=0.2, seed=1), ids, 1) != first
    assert sample_clients(SimConfig(client_fraction=0.2, train_seed=1), ids, 1) != first
    assert len(sample_clients(SimConfig(clients_per_round=7), ids, 3)) == 7
    assert sample_clients(SimConfig(), ids, 1) == ids
    with pytest.raises(ValueError, match="picks no client"):
        sample_clients(SimConfig(client_fraction=0.0), ids, 1)


def test_a_worker_killed_mid_round_is_retried_and_nothing_is_counted_twice(tmp_path, local_ray):
    cfg = SimConfig(**CFG, rounds=1)
    chosen = sample_clients(cfg, [f"site-{i:02d}" for i in range(1, 51)], 1)
    victim = chosen[5]  # the second client of the second batch of four: its batch dies half done
    hook = functools.partial(kill_once, str(tmp_path / "killed"), victim)
    history = run_ray(cfg, tmp_path / "ray", RayOptions(clients_per_task=4, max_retries=2, progress=False), hook)
    assert (tmp_path / "killed").exists()
    _in_process(cfg, tmp_path / "inproc")
    _assert_same_model(tmp_path / "inproc", tmp_path / "ray")
    (record,) = history
    assert record["dropped"] == [] and record["sites_trained"] == 25
    assert record["recovered_from_disk"] == 2  # the batch's first two clients were read back, not retrained


def test_a_worker_killed_without_retries_loses_only_the_clients_it_had_not_committed(tmp_path, local_ray):
    cfg = SimConfig(**CFG, rounds=1)
    chosen = sample_clients(cfg, [f"site-{i:02d}" for i in range(1, 51)], 1)
    hook = functools.partial(kill_once, str(tmp_path / "killed"), chosen[5])
    (record,) = run_ray(cfg, tmp_path / "ray", RayOptions(clients_per_task=4, max_retries=0, progress=False), hook)
    assert record["dropped"] == chosen[6:8]
    assert record["sites_trained"] == 23 and record["recovered_from_disk"] == 2
    folders = {s: tmp_path / "ray" / "sites" / s for s in chosen}
    assert all(ClientState(folders[s]).committed(1) is None for s in chosen[6:8])
    assert all(ClientState(folders[s]).committed(1) is not None for s in chosen[:6] + chosen[8:])
