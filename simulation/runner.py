"""Federated (and, with one site, centralized) training in one process on the services' own code.

Each simulated site is a SiteTrainer over its own event log and state folder, exactly as in
client-agent; each round's updates are packed with the same UpdateLayout, summed (optionally through
the in-process SecAgg+ round), applied and published through the same ModelRegistry as the aggregator.
"""
from __future__ import annotations

import contextlib
import math
import shutil
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from admodels.ad_eval import pool
from admodels.metrics import auc
from admodels.training import DISTILL_WEIGHT, NEGATIVES_FROM
from client_agent.local_store import LocalStore
from client_agent.site_privacy import BudgetExhausted, SitePrivacy
from client_agent.site_trainer import SiteTrainer
from coordinator.rounds import weighted_metrics
from deploy.site_setup import local_registry, prepare_federation
from fedads.eventlog.site_data import SiteData
from fedads.runtime.catalog_store import CatalogStore
from fedads.runtime.layout import UpdateLayout
from fedads.runtime.registry import ModelRegistry
from fedads.v1 import coordinator_pb2 as cpb
from privacy.secagg.simulation import run_round
from simulation.holdout import check_holdout, drop_test_items


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
    negatives_from: str = NEGATIVES_FROM                # "site": negatives from each site's own ads (SiteConfig)
    prox_mu: float = 0.0
    distill_weight: float = DISTILL_WEIGHT              # λ of semantic distillation (needs model use_semantics)
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
    user_features: bool = False                         # the model reads the sites' declared user features
    client_fraction: float = 1.0                        # < 1: train this fraction of the clients each round
    clients_per_round: int = 0                          # > 0: train this many clients each round (seeded draw)
    dp: list[dict] | dict | None = None                 # SitePrivacy kwargs, one dict for all or one per site
    # "validation": the test item removed from every event log before any client reads it, so the run (either
    # backend) trains and evaluates as if each user's second-to-last item were the last (simulation/holdout.py).
    # `validation` above instead reports val_* beside the test metrics, in process only; not both at once.
    holdout: str = "test"


def _privacy_for(cfg: SimConfig, k: int, state: Path) -> SitePrivacy:
    if not cfg.dp:
        return SitePrivacy(state)
    kwargs = cfg.dp[k % len(cfg.dp)] if isinstance(cfg.dp, list) else cfg.dp
    return SitePrivacy(state, **kwargs)


def _training_seed(cfg: SimConfig, r: int = 0) -> int:
    # train_seed 0 reproduces runs made before it existed; the stride keeps each training seed's per-round
    # seeds apart from every other's (a stride of 1 would replay seed 0's round r + 1 as seed 1's round r).
    return cfg.seed + r + 10_007 * cfg.train_seed


def make_trainer(cfg: SimConfig, k: int, site_id: str, folder: Path, state: Path) -> SiteTrainer:
    """Site k's trainer over its data manifest, with its private state under `state` (as client-agent builds it)
    and the run's registry (beside the sites folder, see `start`) as its catalogue source."""
    return SiteTrainer(site_id, SiteData.load(folder / "data"), LocalStore(state), "auto", 0,
                       cfg.max_targets_per_user, 99, cfg.seed, _privacy_for(cfg, k, state),
                       keep_optimizer_state=cfg.keep_optimizer_state,
                       catalogs=CatalogStore(Path(folder).parents[1] / "registry"), validation=cfg.validation,
                       negatives_from=cfg.negatives_from)


@contextlib.contextmanager
def client_rng(cfg: SimConfig, r: int, site_id: str):
    """Torch's global generator (dropout draws from it) seeded per client and round for the call, so a
    client's result does not depend on which clients ran before it in the same process: what lets a
    distributed run equal the in-process one."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed((_training_seed(cfg, r) * 1_000_003 + zlib.crc32(site_id.encode())) % 2 ** 63)
        yield


def sample_clients(cfg: SimConfig, site_ids: list[str], r: int) -> list[str]:
    """Round r's clients: all, or a seeded draw (the same for any backend and any number of workers)."""
    m = cfg.clients_per_round or math.ceil(cfg.client_fraction * len(site_ids))
    if m >= len(site_ids):
        return list(site_ids)
    if m < 1:
        raise ValueError("client sampling picks no client: raise client_fraction or clients_per_round")
    rng = np.random.default_rng([cfg.seed, cfg.train_seed, r, 0x5A4D])
    chosen = set(rng.choice(len(site_ids), size=m, replace=False).tolist())
    return [s for i, s in enumerate(site_ids) if i in chosen]


def train_config(cfg: SimConfig, r: int) -> cpb.TrainConfig:
    return cpb.TrainConfig(epochs=cfg.epochs, learning_rate=round_lr(cfg, r), batch_size=cfg.batch_size,
                           negatives=cfg.negatives, prox_mu=cfg.prox_mu, seed=_training_seed(cfg, r),
                           weighting=cfg.weighting, interest_beta=cfg.interest_beta,
                           private_lr_scale=cfg.private_lr_scale, local_steps=cfg.local_steps,
                           distill_weight=cfg.distill_weight)


def tune_config(cfg: SimConfig, r: int) -> cpb.TrainConfig | None:
    """Personalisation fine-tunes the final model, at the rate the schedule ended on (a cosine run's first
    rate would undo what its last rounds settled)."""
    if r != cfg.rounds or not cfg.personalise_epochs:
        return None
    return cpb.TrainConfig(epochs=cfg.personalise_epochs, learning_rate=round_lr(cfg, r), batch_size=cfg.batch_size,
                           negatives=cfg.negatives, seed=_training_seed(cfg, r), private_lr_scale=cfg.private_lr_scale)


def start(cfg: SimConfig, workdir: Path):
    """Fresh sites, registry and initial model: (site specs, registry)."""
    check_holdout(cfg.holdout)
    if cfg.holdout == "validation" and cfg.validation:
        raise ValueError("holdout='validation' already evaluates on the second-to-last item; unset validation")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    specs, model_config = prepare_federation(cfg.dataset, cfg.sites, workdir, "in-process", cfg.max_users, cfg.seed,
                                             partition_key=cfg.partition, model_overrides=cfg.model,
                                             user_features=cfg.user_features)
    if cfg.holdout == "validation":
        for s in specs:
            drop_test_items(s.data)
    registry, _ = local_registry(workdir, model_config, seed=_training_seed(cfg))
    return specs, registry


def publish(cfg: SimConfig, registry: ModelRegistry, manifest: dict, total: np.ndarray, r: int) -> tuple[dict, bytes]:
    """Apply Σ packed updates to the round's base model and publish the successor, as the aggregator does."""
    layout = UpdateLayout.from_manifest(manifest)
    _, base = registry.load(manifest["version"])
    previous = registry.parent_tensors(manifest) if cfg.server_momentum else None
    new = registry.publish_successor(manifest, layout.apply(base, total, cfg.server_lr, cfg.server_momentum,
                                                            previous), round_id=r)
    return new, registry.read_bytes(new["version"])[1]


def aggregate(cfg: SimConfig, vectors: dict[str, np.ndarray], r: int) -> np.ndarray:
    """Σ of the packed updates in the order given, through in-process SecAgg+ when cfg.secure."""
    if cfg.secure and len(vectors) >= 2:
        return run_round(vectors, seed=r).total
    return sum(vectors.values())


def round_record(r: int, version: int, per_site: list[dict], trained: int, data_epochs: float, refused: list[str],
                 privacy: dict, prior: float | None = None, validation: list[dict] | None = None) -> dict:
    """prior: the training negatives' rate against the evaluation's (prior-corrected calibration);
    validation: each site's metrics on its validation split, reported as val_*."""
    pooled = pooled_auc([m.pop("auc_inputs") for m in per_site], prior) if per_site else {}  # not evaluated
    tuned = [m.pop("personalised_auc_inputs") for m in per_site if "personalised_auc_inputs" in m]
    if tuned:
        pooled |= {f"personalised_{k}": v for k, v in pooled_auc(tuned, prior).items()}
    metrics = weighted_metrics(per_site) | pooled
    if validation:
        val_pooled = pooled_auc([m.pop("auc_inputs") for m in validation], prior)
        metrics |= {f"val_{k}": v for k, v in (weighted_metrics(validation) | val_pooled).items()}
    eps = [p["epsilon_spent"] for p in privacy.values() if p]
    return {"round": r, "version": version, **metrics, "sites_trained": trained, "data_epochs": data_epochs,
            "refused": refused, "max_epsilon": max(eps) if eps else None}


def lr_schedule_label(lr: float, final_lr: float = 0.0) -> str:
    """How round_lr schedules a run's rate, as reports print it."""
    return f"lr {lr:g}" + (f"→{final_lr:g} (cosine)" if final_lr > 0 else "")


def round_lr(cfg: SimConfig, r: int) -> float:
    """The local learning rate of round r (1-based): constant, or cosine from lr to final_lr by the last round."""
    if cfg.final_lr <= 0 or cfg.rounds <= 1:
        return cfg.lr
    return cfg.final_lr + 0.5 * (cfg.lr - cfg.final_lr) * (1 + math.cos(math.pi * (r - 1) / (cfg.rounds - 1)))


def negative_prior(cfg: SimConfig, interaction_only: list[bool]) -> float | None:
    """Sampled-negative training read at the evaluation's negative rate, so calibration is also reported
    prior-corrected (round_record's prior); None where sites train on real impressions."""
    return cfg.negatives / 99 if all(interaction_only) else None


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
    specs, registry = start(cfg, workdir)
    trainers = [make_trainer(cfg, k, s.site_id, s.folder, s.folder / "state") for k, s in enumerate(specs)]
    history, data_epochs = [], 0.0
    prior = negative_prior(cfg, [t.site_data.interaction_only for t in trainers])
    bar = tqdm(range(1, cfg.rounds + 1), desc=f"{cfg.dataset} {len(specs)} sites", disable=not progress or not sys.stderr.isatty(),
               unit="round")
    for r in bar:
        manifest, weights = registry.read_bytes(0)
        train = train_config(cfg, r)
        chosen = set(sample_clients(cfg, [t.site_id for t in trainers], r))
        vectors, privacy, refused, read, records = {}, {}, [], 0, 0
        for t in trainers:
            if t.site_id not in chosen:
                continue
            try:
                with client_rng(cfg, r, t.site_id):
                    out = t.train(manifest, weights, train)
            except BudgetExhausted:
                refused.append(t.site_id)
                continue
            vectors[t.site_id] = out.vector.astype(np.float64)
            privacy[t.site_id] = out.privacy
            read, records = read + out.samples_trained, records + out.num_samples
        if not vectors:
            break
        new, new_weights = publish(cfg, registry, manifest, aggregate(cfg, vectors, r), r)
        last = r == cfg.rounds
        per_site = []
        for t in trainers:
            with client_rng(cfg, r, t.site_id):
                per_site.append(t.evaluate(new, new_weights, tune_config(cfg, r), cfg.full_ranking and last,
                                           auc_inputs=True))
        # The split schedules and early stopping are chosen on (the test split only reports).
        validation = [t.evaluate(new, new_weights, auc_inputs=True, split="validation") for t in trainers] \
            if cfg.validation else None
        # Passes over the data so far, all sites together: what makes step-capped and whole-epoch runs comparable.
        data_epochs += read / max(records, 1)
        record = round_record(r, new["version"], per_site, len(vectors), data_epochs, refused, privacy, prior,
                              validation)
        history.append(record)
        bar.set_postfix(hr=f"{record.get('hr_at_10', 0):.3f}", ndcg=f"{record.get('ndcg_at_10', 0):.3f}")
    return history
