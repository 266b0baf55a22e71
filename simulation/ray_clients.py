"""What a Ray worker does for a batch of virtual clients: train or evaluate them one at a time.

Each client is built from its folder with the services' SiteTrainer (simulation.runner.make_trainer),
runs, commits its private state (simulation/client_state.py) and is dropped before the next one,
so a worker's memory holds one client at a time however many it serves.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from client_agent.site_privacy import BudgetExhausted
from fedads.v1 import coordinator_pb2 as cpb
from simulation.client_state import ClientState, Outcome
from simulation.runner import SimConfig, client_rng, make_trainer


@dataclass(frozen=True)
class ClientRef:
    index: int      # position among all sites: picks its DP settings as the in-process runner does
    site_id: str
    folder: str


def _config(data: bytes) -> cpb.TrainConfig | None:
    return cpb.TrainConfig.FromString(data) if data else None


def train_batch(cfg: SimConfig, clients: list[ClientRef], r: int, manifest: dict, weights: bytes, train: bytes,
                after_client: Callable[[int, str], None] | None = None) -> list[Outcome]:
    """Round r for each client: its committed outcome if an earlier attempt got that far, else train now.

    `after_client(r, site_id)` runs once a client's round is committed (tests kill the worker there)."""
    train_cfg = _config(train)
    out = []
    for c in clients:
        state = ClientState(Path(c.folder))
        done = state.committed(r)
        if done is None:
            scratch = state.begin(r)
            trainer = make_trainer(cfg, c.index, c.site_id, Path(c.folder), scratch)
            try:
                with client_rng(cfg, r, c.site_id):
                    res = trainer.train(manifest, weights, train_cfg)
                done = Outcome(c.site_id, res.vector, res.num_samples, res.samples_trained, res.privacy)
            except BudgetExhausted:
                done = Outcome(c.site_id, None)
            del trainer
            state.commit(r, scratch, done)
        if after_client is not None:
            after_client(r, c.site_id)
        out.append(done)
    return out


def evaluate_batch(cfg: SimConfig, clients: list[ClientRef], r: int, manifest: dict, weights: bytes, tune: bytes,
                   full_ranking: bool) -> list[dict]:
    """Each client's metrics of the new model with its latest committed private state."""
    tune_cfg = _config(tune)
    out = []
    for c in clients:
        state = ClientState(Path(c.folder)).latest()
        trainer = make_trainer(cfg, c.index, c.site_id, Path(c.folder), state)
        with client_rng(cfg, r, c.site_id):
            metrics = trainer.evaluate(manifest, weights, tune_cfg, full_ranking, auc_inputs=True)
        out.append(metrics)
        del trainer
    return out
