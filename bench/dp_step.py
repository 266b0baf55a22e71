"""bench/dp_step: what a record-level DP-SGD step costs, with each record's table gradients kept to
the rows it reads (the default) against materialising them over whole tables.

Both release the same clipped, noised gradient (tests/test_dpsgd.py checks it); this prints records
per second and the floats of one record's gradient for each, on one site's records of a dataset.
Run: `.venv/bin/python -m bench.dp_step --dataset ml-1m`.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from admodels.models.fedads_model import build_model
from admodels.training import TrainSettings, candidate_batch
from bench.one_site import add_site_arguments, one_site
from privacy.dp.dpsgd import DPSGDStep


def time_steps(step: DPSGDStep, batches: list, repeats: int) -> float:
    """Records per second over `repeats` passes of the batches, after one warm-up step."""
    step.step(*batches[0])
    started, n = time.perf_counter(), 0
    for _ in range(repeats):
        for b in batches:
            step.step(*b)
            n += len(b[0])
    return n / (time.perf_counter() - started)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_site_arguments(ap, "which site's records to train on")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    with one_site(args) as (site_id, config, trainer, data):
        targets = np.random.default_rng(0).permutation(data.train_targets())
        gen = torch.Generator().manual_seed(0)
        batches = [candidate_batch(data, targets[i * args.batch_size:(i + 1) * args.batch_size], 4, gen,
                                   torch.device("cpu")) for i in range(args.batches)]
        print(f"{args.dataset} {site_id}: {len(targets)} records, {config.n_items} items, "
              f"{data.n_users} users; batch {args.batch_size}, {args.threads} thread(s)")
        rates = {}
        for row_sparse in (True, False):
            model = build_model(config, seed=0)
            private = trainer.store.load_private(config, data.user_keys, trainer.private_seed)
            step = DPSGDStep(model, private, TrainSettings(lr=1e-3), noise_multiplier=1.0, clip_norm=0.3,
                             sample_rate=0.05, generator=torch.Generator().manual_seed(1), row_sparse=row_sparse)
            grads, _, _ = step.record_gradients(*(t[:1] for t in batches[0]))
            label = "rows read" if row_sparse else "whole tables"
            rates[label] = time_steps(step, batches, args.repeats)
            floats = sum(g[0].numel() for g in grads.values())
            print(f"  {label:>12}: {rates[label]:8.0f} records/s, {floats:,} gradient floats per record")
        print(f"  speed-up: {rates['rows read'] / rates['whole tables']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
