"""Flower's simulation engine (its Ray backend) training FedAds's clients: run with a Python that has
flwr[simulation] installed (Flower pins protobuf < 7, so not the product's venv); called by
bench/flower_throughput.py, which prepares the sites and the task file.

Each Flower ClientApp is one one-user site: the services' SiteTrainer over that site's event log and
private state, the received arrays turned into the model bytes it reads, and the trained shared
parameters (base + its update) sent back for Flower's FedAvg. Times each round from configure_train
to aggregate_train's end into the task's `out` file.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from flwr.simulation import run_simulation
from safetensors.numpy import save as st_save

from client_agent.local_store import LocalStore
from client_agent.site_privacy import SitePrivacy
from client_agent.site_trainer import SiteTrainer
from fedads.eventlog.site_data import SiteData
from fedads.runtime.catalog_store import CatalogStore
from fedads.runtime.layout import UpdateLayout
from fedads.runtime.registry import ModelRegistry


def _client(task: dict):
    app = ClientApp()
    workdir = Path(task["workdir"])
    manifest, _ = ModelRegistry(workdir / "registry").read_bytes(0)
    layout = UpdateLayout.from_manifest(manifest)
    train_cfg = SimpleNamespace(**task["train"])

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        torch.set_num_threads(1)
        site = task["sites"][int(context.node_config["partition-id"])]
        folder = workdir / "sites" / site
        state = folder / "state"
        # As simulation.runner.make_trainer builds it.
        trainer = SiteTrainer(site, SiteData.load(folder / "data"), LocalStore(state), "cpu", 0,
                              task["max_targets_per_user"], 99, task["seed"], SitePrivacy(state),
                              catalogs=CatalogStore(workdir / "registry"))
        base = {k: a.numpy() for k, a in msg.content["arrays"].items()}
        out = trainer.train(manifest, st_save(base), train_cfg)
        new = layout.apply(base, out.vector.astype(np.float64))
        content = RecordDict({"arrays": ArrayRecord({k: Array(v) for k, v in new.items()}),
                              "metrics": MetricRecord({"num-examples": out.num_samples})})
        return Message(content=content, reply_to=msg)

    return app


class TimedFedAvg(FedAvg):
    """FedAvg that records each round's training wall time into `log` (JSON), round by round."""

    def __init__(self, log: Path, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.log, self.rounds, self._t0 = log, [], 0.0

    def configure_train(self, server_round, arrays, config, grid):
        self._t0 = time.perf_counter()
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round, replies):
        replies = list(replies)
        out = super().aggregate_train(server_round, replies)
        self.rounds.append({"round": server_round, "clients": len(replies),
                            "train_wall_s": time.perf_counter() - self._t0})
        self.log.write_text(json.dumps({"rounds": self.rounds}))
        return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", type=Path, required=True)
    args = ap.parse_args()
    task = json.loads(args.task.read_text())
    n = len(task["sites"])
    strategy = TimedFedAvg(Path(task["out"]), fraction_train=task["clients"] / n, fraction_evaluate=0.0,
                           min_train_nodes=task["clients"], min_available_nodes=n)
    server = ServerApp()

    @server.main()
    def server_main(grid: Grid, context: Context) -> None:
        _, tensors = ModelRegistry(Path(task["workdir"]) / "registry").load(0)
        strategy.start(grid=grid, initial_arrays=ArrayRecord({k: Array(v) for k, v in tensors.items()}),
                       num_rounds=task["rounds"])

    run_simulation(server, _client(task), num_supernodes=n,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                   "init_args": {"num_cpus": task["num_cpus"], "include_dashboard": False}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
