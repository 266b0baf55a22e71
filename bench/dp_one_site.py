"""bench/dp_one_site: what record-level DP-SGD does to one site's learning, epoch by epoch.

Trains one site of a zip-region split from the same initialisation with plain Adam steps (`--sigma 0
--clip 0`), or with DP-SGD at a σ given or calibrated for ε over `--rounds` one-epoch rounds, and prints
after each epoch the site's leave-one-out HR@10/NDCG@10 (99 sampled negatives) and how far the item
table moved from its initialisation. A federation's record-level DP run takes most of an hour on
ML-1M; one site answers in minutes whether the DP-SGD path, the noise or the schedule holds accuracy
(docs/privacy.md). Run: `.venv/bin/python -m bench.dp_one_site --dataset ml-1m --epsilon 8`.
"""
from __future__ import annotations

import argparse
import sys
import time
from functools import partial

import torch

from admodels.models.fedads_model import build_model
from admodels.training import LocalStep, TrainSettings, epoch_targets, evaluate, train_local
from bench.one_site import add_site_arguments, one_site
from client_agent.site_privacy import SitePrivacy
from privacy.dp.dpsgd import DPSGDStep

DELTA = 1e-5


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_site_arguments(ap, "which site to train")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=1024, help="expected Poisson batch under DP")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--clip", type=float, default=0.3, help="record clip norm C; 0 with --sigma 0: plain Adam steps")
    ap.add_argument("--epsilon", type=float, default=8.0, help="calibrate σ so --rounds epochs spend this at δ=1e-5")
    ap.add_argument("--rounds", type=int, default=5, help="the federation's rounds the budget is planned over")
    ap.add_argument("--sigma", type=float, default=-1.0, help=">= 0: use this noise multiplier instead")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-private", action="store_true",
                    help="train without per-user private parameters (model use_private = false)")
    args = ap.parse_args(argv)
    if args.clip <= 0 and args.sigma != 0:
        ap.error("--clip 0 means plain Adam steps and needs --sigma 0; DP-SGD needs a clip norm above 0")
    torch.set_num_threads(args.threads)
    with one_site(args) as (site_id, config, trainer, data):
        if args.no_private:
            config.use_private = False
        model = build_model(config, seed=0)
        private = (None if args.no_private else
                   trainer.store.load_private(config, data.user_keys, trainer.private_seed))
        initial = model.item_emb.weight.detach()[1:].clone()
        settings = TrainSettings(lr=args.lr, batch_size=args.batch_size, negatives=4, private_lr_scale=0.1)
        if args.clip == 0 and args.sigma == 0:
            factory, label = LocalStep, "plain Adam"
        else:
            # q and σ as a record-level site derives them for a one-epoch round (client_agent.site_privacy).
            privacy = SitePrivacy(trainer.store.root, clip_norm=args.clip, epsilon_budget=args.epsilon, delta=DELTA,
                                  planned_rounds=args.rounds, unit="record")
            privacy.configure_records(len(epoch_targets(data, 0)), args.batch_size, epochs=1)
            q = privacy.sampling_rate
            sigma = args.sigma if args.sigma >= 0 else privacy.noise_multiplier
            factory = partial(DPSGDStep, noise_multiplier=sigma, clip_norm=args.clip, sample_rate=q)
            label = (f"DP-SGD σ={sigma:.3f} C={args.clip:g} q={q:.4f} (noise std on the mean "
                     f"{sigma * args.clip / args.batch_size:.2e})")
        print(f"{args.dataset} {site_id} of {args.sites}: {len(data.user_keys)} users; {label}, batch "
              f"{args.batch_size}, lr {args.lr:g}{', no private parameters' if args.no_private else ''}")
        print(f"{'epoch':>5} {'HR@10':>7} {'NDCG@10':>8} {'loss':>7} {'item drift':>11} {'seconds':>8}")
        state = None
        for epoch in range(args.epochs + 1):
            loss, seconds = "–", 0.0
            if epoch:
                settings.seed, started = epoch - 1, time.perf_counter()
                stats = train_local(model, private, data, settings, step_factory=factory, optimizer_state=state,
                                    progress=f"{site_id}")
                state, loss, seconds = stats.optimizer_state, f"{stats.loss:.4f}", time.perf_counter() - started
            m = evaluate(model, private, data, negatives=99, seed=0)
            drift = float((model.item_emb.weight.detach()[1:] - initial).std())
            print(f"{epoch:>5} {m['hr_at_10']:7.4f} {m['ndcg_at_10']:8.4f} {loss:>7} {drift:11.4f} {seconds:8.0f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
