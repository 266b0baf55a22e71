"""Federated (and, with one site, centralized) training in one process on the services' own code.

Each simulated site is a SiteTrainer over its own interaction file and state folder, exactly as in
client-agent; each round's updates are packed with the same UpdateLayout, summed (optionally through
the in-process SecAgg+ round), applied and published through the same ModelRegistry as the aggregator.
"""
from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from admodels.ad_eval import pool
from admodels.metrics import auc
from client_agent.site_privacy import BudgetExhausted, SitePrivacy
from coordinator.rounds import weighted_metrics
from deploy.site_setup import local_registry, local_trainer, prepare_federation
from fedads.runtime.layout import UpdateLayout
from fedads.v1 import coordinator_pb2 as cpb
from privacy.secagg.simulation import run_round


@dataclass
class SimConfig:
    dataset: str = "ml-100k"
    sites: int = 8
    partition: str = "zip_region"
    rounds: int = 10
    epochs: int = 1
    local_steps: int = 0                                # > 0: at most this many local steps per round
    lr: float = 3e-3
    final_lr: float = 0.0                               # > 0: cosine decay of the local lr from lr to final_lr
    batch_size: int = 256
    negatives: int = 4
    prox_mu: float = 0.0
    private_lr_scale: float = 1.0                       # the private parameters' lr as a multiple of lr
    max_users: int = 0
    max_targets_per_user: int = 40
    weighting: str = "samples"
    interest_beta: float = 1.0
    personalise_epochs: int = 0
    secure: bool = False
    server_lr: float = 1.0
    server_momentum: float = 0.0                        # β of the heavy-ball server step (FedAvgM)
    keep_optimizer_state: bool = False                  # sites resume their local Adam state across rounds
    full_ranking: bool = False                          # also rank against the whole catalogue (last round)
    validation: bool = False                            # hold out each user's second-to-last item: val_* metrics
    seed: int = 0                                       # the data: partition, user sample, evaluation candidates
    train_seed: int = 0                                 # the training: initial shared model, shuffling, negatives
    model: dict = field(default_factory=dict)           # ModelConfig overrides (e.g. use_din=False)
    dp: list[dict] | dict | None = None                 # SitePrivacy kwargs, one dict for all or one per site


def _privacy_for(cfg: SimConfig, k: int, state: Path) -> SitePrivacy:
    if not cfg.dp:
        return SitePrivacy(state)
    kwargs = cfg.dp[k % len(cfg.dp)] if isinstance(cfg.dp, list) else cfg.dp
    return SitePrivacy(state, **kwargs)


def _training_seed(cfg: SimConfig, r: int = 0) -> int:
    # train_seed 0 reproduces runs made before it existed; the stride keeps each training seed's per-round
    # seeds apart from every other's (a stride of 1 would replay seed 0's round r + 1 as seed 1's round r).
    return cfg.seed + r + 10_007 * cfg.train_seed


def lr_schedule_label(lr: float, final_lr: float = 0.0) -> str:
    """How round_lr schedules a run's rate, as reports print it."""
    return f"lr {lr:g}" + (f"→{final_lr:g} (cosine)" if final_lr > 0 else "")


def round_lr(cfg: SimConfig, r: int) -> float:
    """The local learning rate of round r (1-based): constant, or cosine from lr to final_lr by the last round."""
    if cfg.final_lr <= 0 or cfg.rounds <= 1:
        return cfg.lr
    return cfg.final_lr + 0.5 * (cfg.lr - cfg.final_lr) * (1 + math.cos(math.pi * (r - 1) / (cfg.rounds - 1)))


def pooled_auc(inputs: list[dict], prior_ratio: float | None = None) -> dict:
    """CTR and CVR AUC, and the ad-team metrics (`ad_`), over every site's held-out examples together
    (what one central evaluation would see)."""
    out = {}
    if inputs and all("impressions" in i for i in inputs):
        out = {f"ad_{k}": v for k, v in pool([i["impressions"] for i in inputs], prior_ratio).items()}
    for head in ("ctr", "cvr"):
        y = np.concatenate([i[f"{head}_labels"] for i in inputs])
        s = np.concatenate([i[f"{head}_scores"] for i in inputs])
        if 0 < y.sum() < len(y):
            out[f"{head}_auc"], out[f"{head}_positives"] = auc(y, s), int(y.sum())
    return out


def run(cfg: SimConfig, workdir: Path, progress: bool = True) -> list[dict]:
    """Returns one record per round: global and personalised metrics, ε per site, weights."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    specs, model_config = prepare_federation(cfg.dataset, cfg.sites, workdir, "in-process", cfg.max_users, cfg.seed,
                                             partition_key=cfg.partition, model_overrides=cfg.model)
    registry, catalogs = local_registry(workdir, model_config, seed=_training_seed(cfg))
    trainers = [local_trainer(s, catalogs, "auto", 0, cfg.max_targets_per_user, 99, cfg.seed,
                              _privacy_for(cfg, k, s.folder / "state"), keep_optimizer_state=cfg.keep_optimizer_state,
                              validation=cfg.validation)
                for k, s in enumerate(specs)]
    history, data_epochs = [], 0.0
    # Sampled-negative training read at the evaluation's negative rate: calibration also prior-corrected.
    prior = cfg.negatives / 99 if all(t.site_data.interaction_only for t in trainers) else None
    bar = tqdm(range(1, cfg.rounds + 1), desc=f"{cfg.dataset} {len(specs)} sites", disable=not progress, unit="round")
    for r in bar:
        manifest, weights = registry.read_bytes(0)
        train = cpb.TrainConfig(epochs=cfg.epochs, learning_rate=round_lr(cfg, r), batch_size=cfg.batch_size,
                                negatives=cfg.negatives, prox_mu=cfg.prox_mu, seed=_training_seed(cfg, r),
                                weighting=cfg.weighting, interest_beta=cfg.interest_beta,
                                private_lr_scale=cfg.private_lr_scale, local_steps=cfg.local_steps)
        vectors, privacy, refused, read, records = {}, {}, [], 0, 0
        for t in trainers:
            try:
                out = t.train(manifest, weights, train)
            except BudgetExhausted:
                refused.append(t.site_id)
                continue
            vectors[t.site_id] = out.vector.astype(np.float64)
            privacy[t.site_id] = out.privacy
            read, records = read + out.samples_trained, records + out.num_samples
        if not vectors:
            break
        layout = UpdateLayout.from_manifest(manifest)
        if cfg.secure and len(vectors) >= 2:
            total = run_round(vectors, seed=r).total
        else:
            total = sum(vectors.values())
        _, base = registry.load(manifest["version"])
        previous = registry.parent_tensors(manifest) if cfg.server_momentum else None
        new = registry.publish_successor(manifest, layout.apply(base, total, cfg.server_lr, cfg.server_momentum,
                                                                previous), round_id=r)
        _, new_weights = registry.read_bytes(new["version"])
        last = r == cfg.rounds
        # Personalisation fine-tunes the final model, at the rate the schedule ended on (a cosine run's first
        # rate would undo what its last rounds settled).
        tune = cpb.TrainConfig(epochs=cfg.personalise_epochs, learning_rate=round_lr(cfg, r),
                               batch_size=cfg.batch_size, negatives=cfg.negatives, seed=_training_seed(cfg, r),
                               private_lr_scale=cfg.private_lr_scale) if last and cfg.personalise_epochs else None
        per_site = [t.evaluate(new, new_weights, tune, cfg.full_ranking and last, auc_inputs=True) for t in trainers]
        pooled = pooled_auc([m.pop("auc_inputs") for m in per_site], prior)
        tuned_inputs = [m.pop("personalised_auc_inputs") for m in per_site if "personalised_auc_inputs" in m]
        if tuned_inputs:
            pooled |= {f"personalised_{k}": v for k, v in pooled_auc(tuned_inputs, prior).items()}
        metrics = weighted_metrics(per_site) | pooled
        if cfg.validation:
            # The split schedules and early stopping are chosen on (the test split only reports).
            val = [t.evaluate(new, new_weights, auc_inputs=True, split="validation") for t in trainers]
            val_pooled = pooled_auc([m.pop("auc_inputs") for m in val], prior)
            metrics |= {f"val_{k}": v for k, v in (weighted_metrics(val) | val_pooled).items()}
        eps = [p["epsilon_spent"] for p in privacy.values() if p]
        # Passes over the data so far, all sites together: what makes step-capped and whole-epoch runs comparable.
        data_epochs += read / max(records, 1)
        record = {"round": r, "version": new["version"], **metrics, "sites_trained": len(vectors),
                  "data_epochs": data_epochs,
                  "refused": refused, "max_epsilon": max(eps) if eps else None}
        history.append(record)
        bar.set_postfix(hr=f"{metrics.get('hr_at_10', 0):.3f}", ndcg=f"{metrics.get('ndcg_at_10', 0):.3f}")
    return history
