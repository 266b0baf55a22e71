"""bench/ray_throughput: clients trained per second per core, ML-100K with one client per user, on Ray.

Trains `--clients` one-user clients per round for `--rounds` rounds with the Ray backend
(simulation/ray_backend.py) on `--num-cpus` local CPUs, and times the training phase of each round
(from submitting the tasks to the last update summed; evaluation only after the last round). Beside
it, the same per-client work done directly in this process, single-threaded, without Ray: the
backend's overhead. Prints figures and writes <out>/ray_throughput.json.
Run: `python -m bench.ray_throughput --clients 200 --rounds 2 --num-cpus 1`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from simulation.ray_backend import RayOptions, run_ray
from simulation.ray_clients import ClientRef, train_batch
from simulation.runner import SimConfig, sample_clients, start, train_config


def direct(cfg: SimConfig, workdir: Path, clients: int) -> float:
    """Seconds to train `clients` sampled clients one after another in this process, no Ray."""
    specs, registry = start(cfg, workdir)
    refs = [ClientRef(k, s.site_id, str(s.folder)) for k, s in enumerate(specs)]
    chosen = set(sample_clients(cfg, [c.site_id for c in refs], 1))
    manifest, weights = registry.read_bytes(0)
    t = time.perf_counter()
    train_batch(cfg, [c for c in refs if c.site_id in chosen], 1, manifest, weights,
                train_config(cfg, 1).SerializeToString())
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="ml-100k")
    ap.add_argument("--clients", type=int, default=200, help="clients trained per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--num-cpus", type=int, default=1)
    ap.add_argument("--clients-per-task", type=int, default=0)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/fedads-ray-throughput"))
    ap.add_argument("--out", type=Path, default=Path("reports/ray_throughput"))
    args = ap.parse_args(argv)
    cfg = SimConfig(dataset=args.dataset, partition="user", rounds=args.rounds, lr=args.lr,
                    batch_size=args.batch_size, clients_per_round=args.clients)
    history = run_ray(cfg, args.workdir / "ray", RayOptions(num_cpus=args.num_cpus,
                                                            clients_per_task=args.clients_per_task,
                                                            eval_every=args.rounds))
    torch.set_num_threads(1)
    direct_s = direct(cfg, args.workdir / "direct", args.clients)
    rows = [{"round": h["round"], "clients": h["sites_trained"], "cpus": h["cpus"], "train_wall_s": h["train_wall_s"],
             "clients_per_s_per_core": h["sites_trained"] / h["train_wall_s"] / h["cpus"]} for h in history]
    for row in rows:
        print(f"round {row['round']}: {row['clients']} clients on {row['cpus']} CPU(s) in {row['train_wall_s']:.1f} s"
              f" = {row['clients_per_s_per_core']:.2f} clients/s/core")
    print(f"without Ray, one thread: {args.clients} clients in {direct_s:.1f} s = "
          f"{args.clients / direct_s:.2f} clients/s/core; HR@10 after {args.rounds} rounds "
          f"{history[-1].get('hr_at_10', float('nan')):.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ray_throughput.json").write_text(json.dumps(
        {"config": {"dataset": args.dataset, "clients": args.clients, "rounds": args.rounds, "lr": args.lr,
                    "batch_size": args.batch_size, "num_cpus": args.num_cpus}, "rounds": rows,
         "direct_clients_per_s": args.clients / direct_s, "hr_at_10": history[-1].get("hr_at_10")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
