"""Ad-team metrics against scikit-learn and hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from admodels.ad_eval import impression_metrics, pool
from admodels.metrics import calibration_ratio, expected_calibration_error, group_auc


def test_gauc_weights_users_by_impressions_and_skips_one_class_users():
    users = np.array([7, 7, 7, 3, 3, 5, 5])
    labels = np.array([1, 0, 0, 1, 0, 1, 1])
    scores = np.array([0.9, 0.5, 0.95, 0.2, 0.1, 0.3, 0.4])
    # user 7: the positive beats one negative of two (AUC 0.5, 3 impressions); user 3: AUC 1 (2); user 5 skipped.
    assert group_auc(users, labels, scores) == pytest.approx((3 * 0.5 + 2 * 1.0) / 5)
    rng = np.random.default_rng(0)
    users, labels, scores = rng.integers(0, 20, 400), rng.integers(0, 2, 400), rng.random(400)
    expected, weight = 0.0, 0
    for u in np.unique(users):
        m = users == u
        if 0 < labels[m].sum() < m.sum():
            expected += m.sum() * roc_auc_score(labels[m], scores[m])
            weight += m.sum()
    assert group_auc(users, labels, scores) == pytest.approx(expected / weight, abs=1e-12)
    assert np.isnan(group_auc([1, 1], [1, 1], [0.2, 0.3]))


def test_calibration_ratio_and_ece_by_hand_and_against_scikit_learn():
    assert calibration_ratio([0, 1, 0, 1], [0.2, 0.3, 0.5, 0.6]) == pytest.approx(1.6 / 2)
    assert np.isnan(calibration_ratio([0, 0], [0.1, 0.2]))
    # bins: [0, .1) holds .05 (y 0): gap .05; [.1, .2) holds .15 (y 1): gap .85; the last holds .95 and 1.0 (y 1, 1)
    probs, labels = np.array([0.05, 0.15, 0.95, 1.0]), np.array([0, 1, 1, 1])
    assert expected_calibration_error(labels, probs) == pytest.approx((0.05 + 0.85 + 2 * 0.025) / 4)
    rng = np.random.default_rng(1)
    p = rng.random(2000) ** 2
    y = (rng.random(2000) < np.clip(p * 1.3, 0, 1)).astype(int)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    counts = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], p), minlength=10)
    expected = float((np.abs(prob_true - prob_pred) * counts[counts > 0]).sum() / len(p))
    assert expected_calibration_error(y, p) == pytest.approx(expected, abs=1e-9)


def test_impression_metrics_match_scikit_learn_on_each_population():
    rng = np.random.default_rng(2)
    n = 3000
    users = rng.integers(0, 50, n)
    p_ctr, p_cvr = rng.random(n) * 0.5, rng.random(n)
    click = (rng.random(n) < p_ctr).astype(int)
    conversion = click * (rng.random(n) < p_cvr)
    m = impression_metrics(users, click, conversion, p_ctr, p_cvr)
    assert m["auc"] == pytest.approx(roc_auc_score(click, p_ctr), abs=1e-12)
    assert m["logloss"] == pytest.approx(sk_log_loss(click, p_ctr), abs=1e-9)
    assert m["calibration"] == pytest.approx(p_ctr.sum() / click.sum())
    clicked = click == 1
    assert m["cvr_auc"] == pytest.approx(roc_auc_score(conversion[clicked], p_cvr[clicked]), abs=1e-12)
    assert m["ctcvr_auc"] == pytest.approx(roc_auc_score(conversion, p_ctr * p_cvr), abs=1e-12)
    assert m["gauc"] == pytest.approx(group_auc(users, click, p_ctr))
    # Pooling keeps two sites' users apart even where their keys coincide.
    half = n // 2
    parts = [{"users": users[s], "click": click[s], "conversion": conversion[s], "p_ctr": p_ctr[s],
              "p_cvr": p_cvr[s]} for s in (slice(0, half), slice(half, n))]
    pooled = pool(parts)
    assert pooled["auc"] == pytest.approx(m["auc"])
    site = np.r_[np.zeros(half), np.ones(n - half)]
    assert pooled["gauc"] == pytest.approx(group_auc(site * 1000 + users, click, p_ctr))


def test_prior_correction_reads_odds_at_the_judged_negative_rate():
    from admodels.ad_eval import prior_corrected

    # p 0.5 at 1 : 4 is odds 1; judged at 1 : 99 the odds are 4/99, p = 4/103.
    assert prior_corrected(np.array([0.5]), 4 / 99)[0] == pytest.approx(4 / 103)
    m = impression_metrics([1, 1], [1, 0], [0, 0], [0.5, 0.5], [0.1, 0.1], prior_ratio=0.25)
    assert m["calibration"] == pytest.approx(1.0) and m["calibration_corrected"] == pytest.approx(0.4)
