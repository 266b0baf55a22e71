"""bench/train_throughput: what the site agent's training path costs over a bare torch loop.

Both train the same model on the same site's data with the same batches for the same epochs:
- bare: a plain loop written here (index → tensors → forward → loss → backward → Adam step);
- agent: SiteTrainer.train, what client-agent runs per round (model rebuilt from the received
  safetensors bytes, private parameters loaded and saved, progress bar, update packed into the vector).
Prints samples/s for each and the agent's overhead. Run: `.venv/bin/python -m bench.train_throughput`.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from admodels.models.fedads_model import ModelConfig, PrivateUserState
from admodels.training import TrainSettings, candidate_batch, epoch_targets, example_losses
from admodels.layers.multifaceted_ffn import balance_loss


def bare_loop(model, private, data, settings: TrainSettings) -> tuple[int, float]:
    opt = torch.optim.Adam([*model.parameters(), *private.parameters()], lr=settings.lr)
    rng, gen = np.random.default_rng(settings.seed), torch.Generator().manual_seed(settings.seed)
    model.train()
    n, started = 0, time.perf_counter()
    for _ in range(settings.epochs):
        targets = rng.permutation(epoch_targets(data, settings.max_targets_per_user))
        for s in range(0, len(targets), settings.batch_size):
            seq, users, cands, rating = candidate_batch(data, targets[s:s + settings.batch_size], settings.negatives,
                                                        gen, torch.device("cpu"))
            out = model(seq, cands, users, private)
            loss = example_losses(out, rating, settings).mean() + settings.balance_weight * balance_loss(out["gate"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n += len(seq)
    return n, time.perf_counter() - started


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="ml-100k")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-targets-per-user", type=int, default=30)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from client_agent.site_trainer import SiteTrainer
    from deploy.site_setup import local_registry, local_trainer, prepare_federation
    from fedads.v1 import coordinator_pb2 as cpb

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        specs, model_config = prepare_federation(args.dataset, 1, tmp, "in-process")
        config = ModelConfig.from_dict(model_config)
        registry, catalogs = local_registry(tmp, model_config)
        manifest, weights = registry.read_bytes(0)
        trainer = local_trainer(specs[0], catalogs, "cpu", args.threads, args.max_targets_per_user)
        data = trainer.data_for(config, catalogs.get())
        settings = TrainSettings(epochs=args.epochs, lr=1e-3, batch_size=args.batch_size, negatives=4, seed=1,
                                 max_targets_per_user=args.max_targets_per_user)
        cfg = cpb.TrainConfig(epochs=args.epochs, learning_rate=1e-3, batch_size=args.batch_size, negatives=4,
                              seed=1 - trainer.private_seed, weighting="samples")
        bare, agent = [], []
        for _ in range(args.repeats):  # interleaved, so drifts in machine load hit both alike
            n, s = bare_loop(SiteTrainer.build_model(manifest, weights, catalogs.get()), PrivateUserState(config, data.n_users),
                             data, settings)
            bare.append(n / s)
            started = time.perf_counter()
            out = trainer.train(manifest, weights, cfg)
            agent.append(out.num_samples * args.epochs / (time.perf_counter() - started))
        b, a = max(bare), max(agent)
        print(f"{args.dataset}, {data.n_users} users, {args.epochs} epochs, batch {args.batch_size}, "
              f"{args.threads} threads (best of {args.repeats})")
        print(f"bare torch loop : {b:8.0f} samples/s   runs: {', '.join(f'{x:.0f}' for x in bare)}")
        print(f"agent SiteTrainer: {a:8.0f} samples/s   runs: {', '.join(f'{x:.0f}' for x in agent)}")
        print(f"agent overhead   : {100 * (b - a) / b:+.1f}% (goal < 10%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
