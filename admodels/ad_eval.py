"""Evaluation as ad teams do it, over impressions (clicked or not): one function for every caller
(centralized, each site, pooled federated figures)."""
from __future__ import annotations

import numpy as np

from admodels.metrics import auc, calibration_ratio, expected_calibration_error, group_auc, log_loss


def _auc_or_nan(labels: np.ndarray, scores: np.ndarray) -> float:
    labels = np.asarray(labels)
    return auc(labels, scores) if 0 < labels.sum() < len(labels) else float("nan")


def prior_corrected(p: np.ndarray, ratio: float) -> np.ndarray:
    """pCTR of a model trained at one negative rate, read at another: odds × ratio, where ratio is
    (negatives per positive in training) / (negatives per positive where it is judged)."""
    p = np.asarray(p, np.float64)
    return p * ratio / (p * ratio + 1.0 - p)


def impression_metrics(users, click, conversion, p_ctr, p_cvr, prior_ratio: float | None = None) -> dict:
    """users, click (0/1), conversion (0/1, only where clicked), pCTR and pCVR per impression.

    auc, gauc, logloss, calibration (Σ pCTR / Σ clicks) and ece (10 bins) judge pCTR on every impression;
    cvr_auc judges pCVR on clicked impressions; ctcvr_auc judges pCTCVR = pCTR·pCVR on every impression.
    prior_ratio (sampled-negative training judged on another negative rate): also calibration_corrected
    and ece_corrected, of prior_corrected pCTR."""
    click = np.asarray(click, np.float64)
    conversion = np.asarray(conversion, np.float64)
    p_ctr, p_cvr = np.asarray(p_ctr, np.float64), np.asarray(p_cvr, np.float64)
    clicked = click == 1
    out = {"impressions": int(len(click)), "clicks": int(click.sum()), "conversions": int(conversion.sum()),
            "auc": _auc_or_nan(click, p_ctr), "gauc": group_auc(users, click, p_ctr) if len(click) else float("nan"),
            "logloss": log_loss(click, p_ctr) if len(click) else float("nan"),
            "calibration": calibration_ratio(click, p_ctr), "ece": expected_calibration_error(click, p_ctr),
            "cvr_auc": _auc_or_nan(conversion[clicked], p_cvr[clicked]),
            "ctcvr_auc": _auc_or_nan(conversion, p_ctr * p_cvr)}
    if prior_ratio is not None:
        q = prior_corrected(p_ctr, prior_ratio)
        out["calibration_corrected"] = calibration_ratio(click, q)
        out["ece_corrected"] = expected_calibration_error(click, q)
    return out


def pool(parts: list[dict], prior_ratio: float | None = None) -> dict:
    """Concatenate several sites' impression arrays (keys users, click, conversion, p_ctr, p_cvr) and judge
    them together, as one central evaluation would; user keys are made distinct per site."""
    cols = {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in ("click", "conversion", "p_ctr", "p_cvr")}
    users = np.concatenate([np.stack([np.full(len(p["users"]), i), np.asarray(p["users"], np.int64)], 1)
                            for i, p in enumerate(parts)])
    _, user_ids = np.unique(users, axis=0, return_inverse=True)
    return impression_metrics(user_ids.ravel(), **cols, prior_ratio=prior_ratio)
