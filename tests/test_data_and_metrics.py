from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from admodels.data.movielens import load_movielens
from admodels.data.partition import by_natural_key, dirichlet, one_user_per_site
from admodels.data.sequences import SequenceData
from admodels.metrics import auc, hit_rate_at_k, log_loss, ndcg_at_k, positive_rank


def test_ranking_metrics_on_hand_computed_cases():
    scores = np.array([[0.9, 0.1, 0.2], [0.1, 0.5, 0.7], [0.5, 0.5, 0.1]])
    assert positive_rank(scores).tolist() == [0, 2, 1]  # ties count against the positive
    assert hit_rate_at_k(scores, 1) == pytest.approx(1 / 3)
    assert hit_rate_at_k(scores, 2) == pytest.approx(2 / 3)
    assert ndcg_at_k(scores, 2) == pytest.approx((1 + 1 / np.log2(3)) / 3)


def test_auc_and_logloss_match_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.normal(size=500) + y, 1)  # rounding creates ties
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    p = 1 / (1 + np.exp(-s))
    assert log_loss(y, p) == pytest.approx(sk_log_loss(y, p), rel=1e-9)


def test_movielens_loads_completely():
    d = load_movielens("ml-100k")
    assert len(d.user) == 100_000 and len(d.user_ids) == 943
    assert d.rating.min() == 1 and d.rating.max() == 5 and len(np.unique(d.item)) == 1682
    d1 = load_movielens("ml-1m")
    assert len(d1.user) == 487_650 and len(d1.user_ids) == 6040


def test_sequences_split_leave_one_out_without_leaking_the_target():
    user = np.array([5, 5, 5, 5, 9, 9, 9])
    item = np.array([1, 2, 3, 4, 7, 8, 6])
    ts = np.array([4, 3, 2, 1, 1, 2, 3])  # user 5 arrives in reverse time order
    data = SequenceData.from_arrays(user, item, ts, np.full(7, 4.0), n_items=10, max_len=3)
    assert data.items.tolist() == [4, 3, 2, 1, 7, 8, 6]
    targets = data.train_targets()
    assert data.items[targets].tolist() == [3, 2, 8]
    assert data.histories(targets).tolist() == [[0, 0, 4], [0, 4, 3], [0, 0, 7]]
    users, hist, cands = data.eval_examples(negatives=5, seed=1)
    assert cands[:, 0].tolist() == [1, 6] and hist.tolist() == [[4, 3, 2], [0, 7, 8]]
    for row, u in enumerate(users):
        seen = set(data.items[data.starts[u]:data.ends[u]].tolist())
        assert not seen & set(cands[row, 1:].tolist()) and len(set(cands[row, 1:])) == 5
    _, _, again = data.eval_examples(negatives=5, seed=1)
    assert np.array_equal(cands, again)


def test_partitioners_cover_every_user_once():
    users = np.arange(100)
    keys = np.array(list("aabbbccccd") * 10)
    for parts in (by_natural_key(users, keys, 3), dirichlet(users, users % 4, 5, alpha=0.5, seed=0),
                  one_user_per_site(users)):
        allocated = np.concatenate(parts)
        assert sorted(allocated.tolist()) == users.tolist()
    natural = by_natural_key(users, keys, 3)
    for part in natural:  # a key group never straddles two sites
        for other in natural:
            if other is not part:
                assert not set(keys[part]) & set(keys[other])


def test_full_ranking_ranks_the_target_among_every_unseen_item():
    from admodels.models.fedads_model import ModelConfig, build_model
    from admodels.training import evaluate_full_ranking, score_candidates

    d = load_movielens("ml-100k")
    d = d.subset_users(np.unique(d.user)[:12])
    catalogue, idx = np.unique(d.item, return_inverse=True)
    data = SequenceData.from_arrays(d.user, idx + 1, d.timestamp, d.rating, len(catalogue), 10)
    model = build_model(ModelConfig(n_items=len(catalogue), max_seq_len=10, dim=16, ffn_hidden=16), seed=3)
    got = evaluate_full_ranking(model, None, data, users_per_batch=5)
    ranks = []
    for u in np.flatnonzero(data.ends - data.starts >= 2):  # brute force, one user at a time
        target = data.items[data.ends[u] - 1]
        seen = set(data.items[data.starts[u]:data.ends[u] - 1].tolist()) - {target}
        others = [i for i in range(1, data.n_items + 1) if i not in seen and i != target]
        cands = np.array([[target, *others]], dtype=np.int64)
        scores = score_candidates(model, None, data.histories(np.array([data.ends[u] - 1])), np.array([u]), cands)
        ranks.append(int(positive_rank(scores)[0]))
    ranks = np.array(ranks)
    assert got["num_users"] == len(ranks)
    assert got["full_hr_at_10"] == pytest.approx(float(np.mean(ranks < 10)))
    assert got["full_ndcg_at_10"] == pytest.approx(float(np.mean(np.where(ranks < 10, 1 / np.log2(ranks + 2), 0))))
    assert ranks.max() >= 10  # the catalogue is large enough for misses to exist
