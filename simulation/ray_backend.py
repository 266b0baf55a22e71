"""The simulation on Ray: virtual clients as Ray tasks, many per worker, on one machine or a cluster.

The same program as simulation.runner.run, round for round: the same sites, seeds, client sampling,
SiteTrainer, UpdateLayout, aggregation and ModelRegistry; only where clients run differs. Each round
the driver publishes the model once into Ray's object store, sends batches of clients to tasks
(simulation/ray_clients.py), adds the returned updates in site order (so a run equals the in-process
one for the same seeds) and publishes the successor. Private state lives in each client's folder
between rounds, committed per round (simulation/client_state.py). A task whose worker dies is re-run
up to `max_retries` times; clients it had already committed are read back, not retrained, and what
is still missing after that counts as dropped for the round. Each round's record is appended to
<workdir>/history.jsonl.

On a cluster (`address`), every node needs FedAds installed and `workdir` on storage all nodes share.
Run: `python -m simulation.ray_backend --partition user --rounds 5 --client-fraction 0.1 --workdir /tmp/sim`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from fedads.eventlog.site_data import SiteData
from simulation.client_state import ClientState, Outcome
from simulation.ray_clients import ClientRef, evaluate_batch, train_batch
from simulation.runner import (SimConfig, aggregate, negative_prior, publish, round_record, sample_clients, start,
                               train_config, tune_config)


@dataclass
class RayOptions:
    address: str = ""              # a running Ray cluster ("auto", "ray://host:10001"); "" starts a local one
    num_cpus: int = 0              # local Ray: CPUs for workers (0: all of this machine's)
    clients_per_task: int = 0      # 0: about four tasks per CPU each round
    max_retries: int = 2           # re-runs of a task whose worker died, before its clients count as dropped
    progress: bool | None = None   # a bar per round; None: when stderr is a terminal
    eval_every: int = 1            # evaluate all clients every this many rounds, and after the last


def connect(options: RayOptions) -> bool:
    """Join or start Ray; True when this call started it (and the caller should shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    if options.address:
        ray.init(address=options.address, log_to_driver=False)
    else:
        ray.init(num_cpus=options.num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False)
    return True


def _batches(clients: list[ClientRef], size: int) -> list[list[ClientRef]]:
    return [clients[i:i + size] for i in range(0, len(clients), size)]


def _recover(batch: list[ClientRef], r: int) -> list[Outcome]:
    """After a task failed for good: the clients that had committed round r count, the others dropped."""
    return [o for o in (ClientState(Path(c.folder)).committed(r) for c in batch) if o is not None]


class _InOrderSum:
    """Σ of float64 updates in site order, streaming: the same additions as the in-process runner."""

    def __init__(self, keep: bool):
        self.total, self.keep, self.vectors = None, keep, {}

    def add(self, site_id: str, vector: np.ndarray) -> None:
        v = vector.astype(np.float64)
        if self.keep:  # secure aggregation needs every input at once
            self.vectors[site_id] = v
        else:
            self.total = v if self.total is None else self.total + v


def run_ray(cfg: SimConfig, workdir: Path, options: RayOptions | None = None,
            after_client: Callable[[int, str], None] | None = None) -> list[dict]:
    """Like simulation.runner.run, on Ray; `after_client(r, site)` runs in the worker after each client."""
    import ray

    if cfg.validation:
        raise ValueError("the Ray backend reports no val_* metrics; choose schedules with holdout='validation'")
    if cfg.user_features:
        raise ValueError("the Ray backend does not build user-feature models yet; run user_features in process")
    options = options or RayOptions()
    started = connect(options)
    try:
        return _rounds(ray, cfg, Path(workdir), options, after_client)
    finally:
        if started:
            ray.shutdown()


def _rounds(ray, cfg, workdir, options, after_client) -> list[dict]:
    specs, registry = start(cfg, workdir)
    refs = [ClientRef(k, s.site_id, str(s.folder)) for k, s in enumerate(specs)]
    prior = negative_prior(cfg, [SiteData.load(s.data).interaction_only for s in specs])
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    train_task = ray.remote(num_cpus=1, max_retries=options.max_retries)(train_batch)
    eval_task = ray.remote(num_cpus=1, max_retries=options.max_retries)(evaluate_batch)
    cfg_ref = ray.put(cfg)
    show = sys.stderr.isatty() if options.progress is None else options.progress
    history, data_epochs = [], 0.0
    log = workdir / "history.jsonl"
    for r in range(1, cfg.rounds + 1):
        manifest, weights = registry.read_bytes(0)
        chosen = set(sample_clients(cfg, [c.site_id for c in refs], r))
        clients = [c for c in refs if c.site_id in chosen]
        size = options.clients_per_task or max(1, math.ceil(len(clients) / (4 * cpus)))
        batches = _batches(clients, size)
        m_ref, w_ref = ray.put(manifest), ray.put(weights)  # one copy per round, shared by all tasks
        train = train_config(cfg, r).SerializeToString()
        t0 = time.perf_counter()
        futures = [train_task.remote(cfg_ref, b, r, m_ref, w_ref, train, after_client) for b in batches]
        summed = _InOrderSum(keep=cfg.secure)
        seen, refused, privacy, read, records, recovered = set(), [], {}, 0, 0, 0
        with tqdm(total=len(clients), desc=f"round {r}/{cfg.rounds}", unit="client", disable=not show) as bar:
            for batch, outcomes in _in_order(ray, batches, futures, r, bar):
                for o in outcomes:
                    if o.site_id in seen:
                        raise RuntimeError(f"{o.site_id} reported twice in round {r}")
                    seen.add(o.site_id)
                    recovered += o.from_disk
                    if o.vector is None:
                        refused.append(o.site_id)
                        continue
                    summed.add(o.site_id, o.vector)
                    privacy[o.site_id] = o.privacy
                    read, records = read + o.samples_trained, records + o.num_samples
        train_s = time.perf_counter() - t0
        trained = len(seen) - len(refused)
        if not trained:
            break
        total = aggregate(cfg, summed.vectors, r) if cfg.secure else summed.total
        new, new_weights = publish(cfg, registry, manifest, total, r)
        per_site = []
        if r % options.eval_every == 0 or r == cfg.rounds:
            eval_size = options.clients_per_task or max(1, math.ceil(len(refs) / (4 * cpus)))
            per_site = _evaluate(ray, eval_task, cfg_ref, refs, eval_size, new, new_weights, cfg, r)
        data_epochs += read / max(records, 1)
        record = round_record(r, new["version"], per_site, trained, data_epochs, refused, privacy, prior)
        record.update(clients_sampled=len(clients), dropped=sorted(chosen - seen), recovered_from_disk=recovered,
                      train_wall_s=train_s, cpus=cpus)
        history.append(record)
        with log.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
    return history


def _in_order(ray, batches, futures, r, bar):
    """Yield (batch, outcomes) in submission order, updating the bar as any task finishes."""
    index = {f: i for i, f in enumerate(futures)}
    done: dict[int, list[Outcome]] = {}
    pending, nxt = list(futures), 0
    while nxt < len(batches):
        ready, pending = ray.wait(pending, num_returns=1) if pending else ([], [])
        for f in ready:
            i = index[f]
            try:
                done[i] = ray.get(f)
            except ray.exceptions.RayTaskError:
                raise  # the client code itself failed: a bug to see, not a dropout to hide
            except ray.exceptions.RayError:
                done[i] = _recover(batches[i], r)
            bar.update(len(batches[i]))
        while nxt in done:
            yield batches[nxt], done.pop(nxt)
            nxt += 1


def _evaluate(ray, eval_task, cfg_ref, refs, size, manifest, weights, cfg, r) -> list[dict]:
    tune = tune_config(cfg, r)
    tune_bytes = tune.SerializeToString() if tune is not None else b""
    m_ref, w_ref = ray.put(manifest), ray.put(weights)
    full = cfg.full_ranking and r == cfg.rounds
    futures = [eval_task.remote(cfg_ref, b, r, m_ref, w_ref, tune_bytes, full) for b in _batches(refs, size)]
    return [m for batch in ray.get(futures) for m in batch]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="ml-100k")
    ap.add_argument("--partition", default="user")
    ap.add_argument("--sites", type=int, default=8, help="sites for the natural-key partitions")
    ap.add_argument("--max-users", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--lr", type=float, default=SimConfig.lr)
    ap.add_argument("--batch-size", type=int, default=SimConfig.batch_size)
    ap.add_argument("--client-fraction", type=float, default=1.0)
    ap.add_argument("--clients-per-round", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--address", default="", help="a Ray cluster; default: a local one")
    ap.add_argument("--num-cpus", type=int, default=0)
    ap.add_argument("--clients-per-task", type=int, default=0)
    ap.add_argument("--workdir", type=Path, required=True)
    args = ap.parse_args(argv)
    cfg = SimConfig(dataset=args.dataset, partition=args.partition, sites=args.sites, max_users=args.max_users,
                    rounds=args.rounds, lr=args.lr, batch_size=args.batch_size, client_fraction=args.client_fraction,
                    clients_per_round=args.clients_per_round, seed=args.seed)
    try:
        history = run_ray(cfg, args.workdir, RayOptions(args.address, args.num_cpus, args.clients_per_task))
    except (ValueError, ConnectionError) as exc:
        print(f"simulation: {exc}", file=sys.stderr)
        return 2
    for h in history:
        print(json.dumps({k: h.get(k) for k in ("round", "hr_at_10", "ndcg_at_10", "sites_trained", "dropped")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
