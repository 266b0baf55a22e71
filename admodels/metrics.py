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


def group_auc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    """gAUC: each user's AUC weighted by the user's impressions; users with one class only are skipped
    (their AUC is undefined). NaN when no user has both classes."""
    users, labels, scores = np.asarray(users), np.asarray(labels).astype(bool), np.asarray(scores, np.float64)
    order = np.argsort(users, kind="stable")
    users, labels, scores = users[order], labels[order], scores[order]
    _, starts, counts = np.unique(users, return_index=True, return_counts=True)
    total, weight = 0.0, 0
    for s, n in zip(starts, counts):
        y = labels[s:s + n]
        if 0 < y.sum() < n:
            total += n * auc(y, scores[s:s + n])
            weight += n
    return total / weight if weight else float("nan")


def calibration_ratio(labels: np.ndarray, probs: np.ndarray) -> float:
    """Σ predicted / Σ observed (1.0: calibrated on the whole; > 1 over-predicts). NaN without positives."""
    positives = float(np.asarray(labels, np.float64).sum())
    return float(np.asarray(probs, np.float64).sum()) / positives if positives > 0 else float("nan")


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-width probability bins: Σ_b (n_b / N)·|mean p_b − mean y_b| (a probability of
    exactly 1 falls in the last bin)."""
    p = np.asarray(probs, np.float64)
    y = np.asarray(labels, np.float64)
    if len(p) == 0:
        return float("nan")
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    n = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, p, bins) - np.bincount(which, y, bins))
    return float(gap.sum() / len(p)) if n.sum() else float("nan")
