"""Baselines on exactly the federation's split and candidates: popularity and logistic regression.

Both are fitted on every site's training records together (centralized: an upper bound for a federated
count or a federated LR) and scored on each site's seeded leave-one-out candidates, the same ones the
model is judged on (SequenceData.eval_examples with the runner's evaluation seed).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from admodels.ad_eval import pool
from admodels.metrics import hit_rate_at_k, ndcg_at_k
from admodels.models.fedads_model import ModelConfig
from deploy.site_setup import local_registry, local_trainer, prepare_federation


def site_splits(dataset: str, sites: int, partition: str, seed: int, max_seq_len: int = 50):
    """(catalog, [SequenceData with a validation split] per site), converted as simulation.runner does."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        specs, model_config = prepare_federation(dataset, sites, work, "in-process", 0, seed, max_seq_len=max_seq_len,
                                                 partition_key=partition, model_overrides={"use_features": False})
        _, catalogs = local_registry(work, model_config)
        catalog = catalogs.get()
        config = ModelConfig.from_dict(model_config)
        datas = [local_trainer(s, catalogs, "cpu", 1, 0, 99, seed, validation=True).data_for(config, catalog)
                 for s in specs]
    return catalog, datas


def _judge(datas, score_fn, seed: int, split: str, negatives: int = 99, prior_ratio: float | None = None,
           probabilities: bool = True) -> dict:
    """Ranking and ad metrics of score_fn(histories, candidates) on every site's candidates. Baselines have
    no CVR model (their CTCVR AUC ranks conversions by pCTR alone); probabilities=False: scores are not
    probabilities, so LogLoss and calibration do not apply."""
    parts, hits, ndcgs, n = [], [], [], []
    for d in datas:
        users, seq, cands = d.eval_examples(negatives, seed, split)
        scores = score_fn(seq, cands)
        back = 2 if split == "validation" else 1
        conv = np.zeros_like(scores)
        conv[:, 0] = d.conversions[d.ends[users] - back]
        click = np.zeros_like(scores)
        click[:, 0] = 1
        parts.append({"users": np.repeat(d.user_keys[users], scores.shape[1]), "click": click.ravel(),
                      "conversion": conv.ravel(), "p_ctr": scores.ravel(), "p_cvr": np.ones(scores.size)})
        hits.append(hit_rate_at_k(scores, 10))
        ndcgs.append(ndcg_at_k(scores, 10))
        n.append(len(users))
    out = {f"ad_{k}": v for k, v in pool(parts, prior_ratio).items()}
    out["ad_cvr_auc"] = float("nan")
    if not probabilities:
        for k in ("logloss", "calibration", "ece", "calibration_corrected", "ece_corrected"):
            out[f"ad_{k}"] = float("nan")
    out["hr_at_10"] = float(np.average(hits, weights=n))
    out["ndcg_at_10"] = float(np.average(ndcgs, weights=n))
    return out


def popularity(datas, n_items: int, seed: int, split: str) -> dict:
    counts = np.zeros(n_items + 1)
    for d in datas:
        counts += np.bincount(d.items[d.train_targets()], minlength=n_items + 1)
    return _judge(datas, lambda seq, cands: counts[cands] + 1e-9 * cands, seed, split, probabilities=False)


def _lr_rows(seq: np.ndarray, cands: np.ndarray, category: np.ndarray, n_cat: int):
    """Sparse features per (history, candidate): the candidate's category (one-hot) and the share of
    the history in that category (the user × ad-category cross a hand-built LR would carry)."""
    hist_cat = category[seq]  # (N, L)
    valid = seq > 0
    cand_cat = category[cands]  # (N, C)
    share = ((hist_cat[:, None, :] == cand_cat[:, :, None]) & valid[:, None, :]).sum(-1) / np.maximum(
        valid.sum(1, keepdims=True), 1)
    rows = np.arange(cands.size)
    onehot = sp.csr_matrix((np.ones(cands.size), (rows, cand_cat.ravel())), shape=(cands.size, n_cat))
    dense = sp.csr_matrix(np.stack([share.ravel(), (share.ravel() > 0).astype(float)], 1))
    return sp.hstack([onehot, dense]).tocsr()


def logistic_regression(datas, catalog, seed: int, split: str, negatives: int = 4, targets_per_user: int = 30,
                        eval_negatives: int = 99) -> dict:
    from sklearn.linear_model import LogisticRegression

    from admodels.training import epoch_targets

    category = catalog.feature_codes("category")
    n_cat = catalog.vocab_size("category")
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for d in datas:
        idx = epoch_targets(d, targets_per_user)
        cands = np.concatenate([d.items[idx][:, None], rng.integers(1, d.n_items + 1, (len(idx), negatives))], 1)
        xs.append(_lr_rows(d.histories(idx), cands, category, n_cat))
        y = np.zeros(cands.shape)
        y[:, 0] = 1
        ys.append(y.ravel())
    model = LogisticRegression(C=1.0, max_iter=300)
    model.fit(sp.vstack(xs), np.concatenate(ys))
    def score(seq, cands):
        return model.predict_proba(_lr_rows(seq, cands, category, n_cat))[:, 1].reshape(cands.shape)
    # Trained at 1 positive : `negatives`, judged at 1 : eval_negatives, as the model is.
    return _judge(datas, score, seed, split, eval_negatives, negatives / eval_negatives)
