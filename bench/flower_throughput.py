"""bench/flower_throughput: clients trained per second per core, FedAds on Ray against Flower's
simulation engine, on the same one-user ML-100K clients, model, data and local training.

Prepares the one-client-per-user sites with simulation.runner.start, then runs `--rounds` rounds of
`--clients` sampled clients in Flower (bench/flower_sim.py, under `--flower-python`, a venv with
flwr[simulation]) and in FedAds's Ray backend, each on `--num-cpus` CPUs, one after the other. Both
time each round's training phase (sending the model, local training, summing the updates) and
neither evaluates in between. Prints figures and writes <out>/flower_throughput.json.
Run: `python -m bench.flower_throughput --flower-python /tmp/flwr-venv/bin/python --clients 200`.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from simulation.ray_backend import RayOptions, run_ray
from simulation.runner import SimConfig, start, train_config

TRAIN_FIELDS = ("epochs", "learning_rate", "batch_size", "negatives", "prox_mu", "seed", "weighting",
                "interest_beta", "private_lr_scale", "local_steps")


def flower_task(cfg: SimConfig, workdir: Path, clients: int, num_cpus: int) -> dict:
    """What bench/flower_sim.py needs: the prepared sites and the same round-1 TrainConfig FedAds sends."""
    specs, _ = start(cfg, workdir)
    train = train_config(cfg, 1)
    return {"workdir": str(workdir), "sites": [s.site_id for s in specs], "clients": clients, "rounds": cfg.rounds,
            "num_cpus": num_cpus, "max_targets_per_user": cfg.max_targets_per_user, "seed": cfg.seed,
            "train": {f: getattr(train, f) for f in TRAIN_FIELDS}, "out": str(workdir / "flower_rounds.json")}


def per_core(rows: list[dict], cpus: int) -> list[float]:
    return [r["clients"] / r["train_wall_s"] / cpus for r in rows]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flower-python", required=True, help="a Python with flwr[simulation] installed")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--num-cpus", type=int, default=1)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-users", type=int, default=0, help="a seeded sample of users (0: all 943)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/fedads-flower-throughput"))
    ap.add_argument("--out", type=Path, default=Path("reports/flower_throughput"))
    args = ap.parse_args(argv)
    cfg = SimConfig(partition="user", rounds=args.rounds, lr=args.lr, batch_size=args.batch_size,
                    clients_per_round=args.clients, max_users=args.max_users)
    task = flower_task(cfg, args.workdir / "flower", args.clients, args.num_cpus)
    task_file = args.workdir / "flower_task.json"
    task_file.write_text(json.dumps(task))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([args.flower_python, "-m", "bench.flower_sim", "--task", str(task_file)], env=env)
    if done.returncode != 0 or not Path(task["out"]).exists():
        print(f"flower_throughput: the Flower run failed (exit {done.returncode})", file=sys.stderr)
        return 1
    flower = json.loads(Path(task["out"]).read_text())["rounds"]
    history = run_ray(cfg, args.workdir / "ray", RayOptions(num_cpus=args.num_cpus, eval_every=args.rounds + 1,
                                                            progress=False))
    fedads = [{"round": h["round"], "clients": h["sites_trained"], "train_wall_s": h["train_wall_s"]} for h in history]
    for name, rows in (("Flower", flower), ("FedAds on Ray", fedads)):
        for row, rate in zip(rows, per_core(rows, args.num_cpus)):
            print(f"{name} round {row['round']}: {row['clients']} clients on {args.num_cpus} CPU(s) in "
                  f"{row['train_wall_s']:.1f} s = {rate:.2f} clients/s/core")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "flower_throughput.json").write_text(json.dumps(
        {"config": {"clients": args.clients, "rounds": args.rounds, "num_cpus": args.num_cpus, "lr": args.lr,
                    "batch_size": args.batch_size}, "flower": flower, "fedads_ray": fedads,
         "flower_clients_per_s_per_core": per_core(flower, args.num_cpus),
         "fedads_clients_per_s_per_core": per_core(fedads, args.num_cpus)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
