"""Ranking and classification metrics. Ranking inputs put the held-out positive in column 0."""
from __future__ import annotations

import numpy as np


def positive_rank(scores: np.ndarray) -> np.ndarray:
    """0-based rank of column 0 among each row; ties count against the positive (pessimistic)."""
    scores = np.asarray(scores, dtype=np.float64)
    return (scores[:, 1:] >= scores[:, :1]).sum(axis=1)


def hit_rate_at_k(scores: np.ndarray, k: int) -> float:
    return float((positive_rank(scores) < k).mean())


def ndcg_at_k(scores: np.ndarray, k: int) -> float:
    rank = positive_rank(scores)
    return float(np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0).mean())


def recall_at_k(scores: np.ndarray, k: int) -> float:
    # One relevant item per user: recall@K equals the hit rate.
    return hit_rate_at_k(scores, k)


def precision_at_k(scores: np.ndarray, k: int) -> float:
    return hit_rate_at_k(scores, k) / k


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve via the rank-sum statistic, with average ranks for ties."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both positive and negative labels")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def log_loss(labels: np.ndarray, probs: np.ndarray, eps: float = 1e-7) -> float:
    p = np.clip(np.asarray(probs, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(labels, dtype=np.float64)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
