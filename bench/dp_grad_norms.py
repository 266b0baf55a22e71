"""bench/dp_grad_norms: where to put record-level DP-SGD's clip norm C on a dataset.

Clipping compares each record's gradient (shared and on-site private parameters together) with C.
A C above most records' norms pays noise σC/B for a norm few records use; once nearly every record
is clipped, a smaller C changes little (docs/privacy.md). This prints the norms' quantiles and the
share of records each candidate C would clip, for one site's records, at initialisation and after a
few epochs of plain training. Run it on public or already-released data: the quantiles of a site's
own records are a statistic of them. Run: `.venv/bin/python -m bench.dp_grad_norms`.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from admodels.models.fedads_model import build_model
from admodels.training import TrainSettings, candidate_batch, epoch_targets, train_local
from bench.one_site import add_site_arguments, one_site
from privacy.dp.dpsgd import DPSGDStep

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def norms(model, private, data, settings: TrainSettings, records: np.ndarray) -> np.ndarray:
    step = DPSGDStep(model, private, settings, noise_multiplier=0.0, clip_norm=1.0, sample_rate=0.1)
    gen, out = torch.Generator().manual_seed(settings.seed), []
    for s in range(0, len(records), 256):
        batch = candidate_batch(data, records[s:s + 256], settings.negatives, gen, torch.device("cpu"))
        out.append(step.record_gradient_norms(*batch).numpy())
    return np.concatenate(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_site_arguments(ap, "which site's records to measure")
    ap.add_argument("--records", type=int, default=1024, help="how many of its records (a seeded sample)")
    ap.add_argument("--epochs", type=int, default=3, help="plain training epochs before the second measurement")
    ap.add_argument("--clips", default="0.1,0.3,1,3", help="candidate clip norms to report")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    clips = [float(c) for c in args.clips.split(",")]
    with one_site(args) as (site_id, config, trainer, data):
        model = build_model(config, seed=0)
        private = trainer.store.load_private(config, data.user_keys, trainer.private_seed)
        settings = TrainSettings(epochs=args.epochs, lr=0.01, batch_size=64, negatives=4, seed=0,
                                 max_targets_per_user=0, private_lr_scale=0.1)
        targets = epoch_targets(data, 0)
        records = np.random.default_rng(0).choice(targets, min(args.records, len(targets)), replace=False)
        print(f"{args.dataset}, site {site_id} of {args.sites} ({len(targets)} records), "
              f"{len(records)} sampled; gradient norm over shared and private parameters")
        print(f"{'':>20}" + "".join(f"{f'q{int(q * 100):02d}':>7}" for q in QUANTILES)
              + "".join(f"{f'clipped@{c:g}':>13}" for c in clips))
        for label in ("initialisation", f"after {args.epochs} epochs"):
            if label != "initialisation":
                train_local(model, private, data, settings)
            n = norms(model, private, data, settings, records)
            print(f"{label:>20}" + "".join(f"{v:7.3f}" for v in np.quantile(n, QUANTILES))
                  + "".join(f"{np.mean(n > c):>13.0%}" for c in clips))
    return 0


if __name__ == "__main__":
    sys.exit(main())
