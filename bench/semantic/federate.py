"""One federated run of bench/semantic on prepared site folders, and its leave-one-out evaluation.

Training goes through the services' code (SiteTrainer, UpdateLayout, ModelRegistry) as simulation.runner
does; the evaluation ranks each user's held-out item against 99 seeded negatives drawn from a given pool
of ads (the whole catalogue, or the user's domain), so that single- and cross-domain runs rank the same
candidates.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from admodels.models.ad_features import initial_config
from admodels.models.fedads_model import build_model
from admodels.training import score_candidates
from client_agent.local_store import LocalStore
from client_agent.site_privacy import SitePrivacy
from client_agent.site_trainer import SiteTrainer
from deploy.site_setup import local_registry
from fedads.eventlog.keys import seed_word
from fedads.eventlog.site_data import SiteData
from simulation.runner import SimConfig, aggregate, client_rng, publish, train_config


@dataclass
class RunSpec:
    name: str
    model: dict
    distill_weight: float = 0.0
    embedding_noise: float = 0.0
    sites: tuple[str, ...] = ()          # empty: every site of the template
    negatives_from: str = "catalogue"    # "site": training negatives from each site's own ads
    extra: dict = field(default_factory=dict)


def prepare(template: Path, run_dir: Path, sites: tuple[str, ...]) -> list[Path]:
    """A fresh copy of the template's catalogue and the chosen sites (their private state empty)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "sites").mkdir(parents=True)
    shutil.copytree(template / "catalog", run_dir / "catalog")
    chosen = []
    for site in sorted((template / "sites").iterdir()):
        if sites and site.name not in sites:
            continue
        shutil.copytree(site / "data", run_dir / "sites" / site.name / "data")
        chosen.append(run_dir / "sites" / site.name)
    return chosen


def federate(template: Path, run_dir: Path, spec: RunSpec, cfg: SimConfig) -> tuple[list[SiteTrainer], dict, bytes]:
    """Train cfg.rounds rounds; returns the trainers and the final model (manifest, weights)."""
    folders = prepare(template, run_dir, spec.sites)
    from fedads.catalog.catalog import Catalog

    model_config = initial_config({"max_seq_len": 50, **spec.model}, Catalog.load(run_dir / "catalog"))
    registry, catalogs = local_registry(run_dir, model_config, seed=cfg.train_seed)
    trainers = [SiteTrainer(f.name, SiteData.load(f / "data"), LocalStore(f / "state"), "cpu", 1,
                            cfg.max_targets_per_user, 99, cfg.seed, SitePrivacy(f / "state"),
                            embedding_noise=spec.embedding_noise, catalogs=catalogs, validation=True,
                            negatives_from=spec.negatives_from)
                for f in folders]
    cfg = SimConfig(**{**cfg.__dict__, "distill_weight": spec.distill_weight})
    manifest, weights = registry.read_bytes(0)
    cosines = []
    for r in range(1, cfg.rounds + 1):
        vectors = {}
        for t in trainers:
            with client_rng(cfg, r, t.site_id):
                out = t.train(manifest, weights, train_config(cfg, r))
            vectors[t.site_id] = out.vector.astype(np.float64)
            if "embedding_cosine" in out.privacy:
                cosines.append(out.privacy["embedding_cosine"])
        manifest, weights = publish(cfg, registry, manifest, aggregate(cfg, vectors, r), r)
    manifest = dict(manifest, bench_embedding_cosine=float(np.mean(cosines)) if cosines else None)
    return trainers, manifest, weights


def ranks(trainer: SiteTrainer, manifest: dict, weights: bytes, split: str, pool: np.ndarray | None,
          only_targets: np.ndarray | None = None, negatives: int = 99, seed: int = 0,
          fresh_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """0-based rank (ties against the target) of each evaluated user's held-out item among `negatives`
    seeded negatives from pool (default: every ad) the user never interacted with; and the targets.
    only_targets: evaluate only users whose held-out item is one of these ads. fresh_rows: these ads' id rows
    replaced by the initialisation catalogue growth gives an appended ad (admodels.models.growth), i.e. the
    ads scored as brand-new creatives rather than as catalogue ads that training sampled as negatives."""
    catalog = trainer.catalog_for(manifest)
    model = trainer.build_model(manifest, weights, catalog)
    if fresh_rows is not None:
        fresh = build_model(model.config, seed=0).item_emb.weight.detach()
        with torch.no_grad():
            model.item_emb.weight[torch.from_numpy(fresh_rows)] = fresh[torch.from_numpy(fresh_rows)]
    data = trainer.data_for(model.config, catalog)
    private = trainer.store.load_private(model.config, data.user_keys, trainer.private_seed)
    back = {"test": 1, "validation": 2}[split]
    users = np.flatnonzero(data.ends - data.starts >= back + 1)
    targets = data.items[data.ends[users] - back]
    if only_targets is not None:
        keep = np.isin(targets, only_targets)
        users, targets = users[keep], targets[keep]
    if pool is not None:
        keep = np.isin(targets, pool)
        users, targets = users[keep], targets[keep]
    pool = np.arange(1, data.n_items + 1) if pool is None else np.asarray(pool)
    cands = np.zeros((len(users), negatives + 1), dtype=np.int64)
    cands[:, 0] = targets
    for row, u in enumerate(users):
        seen = data.items[data.starts[u]:data.ends[u]]
        options = pool[~np.isin(pool, seen)]
        rng = np.random.default_rng([seed, seed_word(data.user_keys[u]), back])
        cands[row, 1:] = rng.choice(options, size=negatives, replace=len(options) < negatives)
    seq = data.histories(data.ends[users] - back)
    scores = score_candidates(model, private, seq, users, cands)
    return (scores >= scores[:, :1]).sum(1) - 1, targets


def metrics(r: np.ndarray) -> dict:
    if not len(r):
        return {"users": 0, "hr_at_10": float("nan"), "ndcg_at_10": float("nan"), "hit_at_1": float("nan")}
    hit = r < 10
    return {"users": int(len(r)), "hr_at_10": float(hit.mean()),
            "ndcg_at_10": float(np.where(hit, 1.0 / np.log2(r + 2), 0.0).mean()), "hit_at_1": float((r == 0).mean())}
