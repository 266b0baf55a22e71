"""The advertising datasets' formats are read exactly (figures from each SOURCE.md)."""
from __future__ import annotations

import numpy as np
import pytest

from admodels.data.ctr_formats import (read_ali_ccp, read_criteo, read_taobao_ad, read_userbehavior,
                                       userbehavior_funnel)
from admodels.data.paths import find_dataset


def test_userbehavior_counts_and_funnel():
    ev = read_userbehavior()
    assert len(ev["user"]) == 84_287 and len(np.unique(ev["user"])) == 814
    assert len(np.unique(ev["item"])) == 55_233 and len(np.unique(ev["category"])) == 2_911
    assert np.bincount(ev["behavior"]).tolist() == [75_693, 4_494, 2_351, 1_749]
    f = userbehavior_funnel(ev)
    assert np.all(np.diff(f["timestamp"]) >= 0)
    assert len(f["user"]) == len(np.unique(f["user"] * 10 ** 8 + f["item"]))  # one row per viewed pair
    assert 0 < f["converted"].sum() <= 1_749
    # A conversion needs a purchase of that item by that user no earlier than the view.
    latest_buy = {}
    for u, i, t, b in zip(ev["user"].tolist(), ev["item"].tolist(), ev["timestamp"].tolist(), ev["behavior"].tolist()):
        if b == 3:
            latest_buy[(u, i)] = max(t, latest_buy.get((u, i), t))
    for u, i, t, c in zip(f["user"].tolist(), f["item"].tolist(), f["timestamp"].tolist(), f["converted"].tolist()):
        assert c == ((u, i) in latest_buy and latest_buy[(u, i)] >= t)


def test_taobao_ad_both_files():
    folder = find_dataset("taobao-ad")
    txt = read_taobao_ad(folder / "alimama_dmr_sample_paddlerec.txt")
    csv_ = read_taobao_ad(folder / "alimama_dmr_sample_deepctr.csv")
    assert len(txt["click"]) == 500 and txt["click"].sum() == 210 and len(np.unique(txt["uid"])) == 230
    assert len(csv_["click"]) == 99 and csv_["click"].sum() == 2
    assert np.bincount(txt["pid"]).tolist() == [230, 270]
    assert 0.525 <= txt["price"].min() and txt["price"].max() <= 1.005 and txt["btag"].shape == (500, 50)


def test_ali_ccp_samples_keep_the_funnel():
    folder = find_dataset("ali-ccp")
    for name, rows, clicks, buys in [("ali_ccp_train_sample.csv", 100, 7, 1), ("ali_ccp_val_sample.csv", 50, 3, 1),
                                     ("ali_ccp_test_sample.csv", 50, 2, 1)]:
        d = read_ali_ccp(folder / name)
        assert (len(d["click"]), d["click"].sum(), d["purchase"].sum()) == (rows, clicks, buys)
        assert not np.any((d["purchase"] == 1) & (d["click"] == 0))
        assert d["D109_14"].dtype == np.float64 and d["101"].dtype == np.int64
    aitm = read_ali_ccp(folder / "aitm_train_sample_paddlerec.csv")
    assert len(aitm["click"]) == 48 and len(aitm) == 20


def test_criteo_both_formats():
    folder = find_dataset("criteo")
    raw = read_criteo(folder / "train_head1000.txt")
    assert len(raw["label"]) == 1000 and raw["label"].sum() == 205
    ints = np.stack([raw[f"I{j}"] for j in range(1, 14)])
    cats = np.stack([raw[f"C{j}"] for j in range(1, 27)])
    assert np.isnan(ints).mean() == pytest.approx(0.212, abs=0.001)
    assert (cats == "").mean() == pytest.approx(0.120, abs=0.001)
    dc = read_criteo(folder / "deepctr_criteo_sample.txt")
    assert len(dc["label"]) == 200 and dc["label"].sum() == 49
    with pytest.raises(ValueError, match="40 fields"):
        bad = folder.parent / "criteo" / "SOURCE.md"
        read_criteo(bad)


def test_userbehavior_converts_to_interaction_only_events_with_conversions_and_partition_keys(tmp_path):
    from admodels.data.ctr_formats import read_userbehavior, userbehavior_funnel
    from deploy.site_setup import prepare_federation
    from fedads.datasets.registry import convert

    funnel = userbehavior_funnel(read_userbehavior())
    conv = convert("taobao-userbehavior")
    ev = conv.events
    assert ev.num_rows == len(funnel["user"]) and int(ev.column("conversion").to_numpy().sum()) == \
        int(funnel["converted"].sum()) > 0
    assert conv.interaction_only and set(ev.column("click").to_numpy().tolist()) == {1}
    viewers = len(np.unique(funnel["user"]))  # 812 of the 814 users viewed (pv) anything
    assert len(conv.user_ids) == viewers == 812 and len(conv.keys["occupation"]) == viewers
    assert conv.feed.num_rows == 55_233 and len(set(conv.feed.column("category").to_pylist())) == 2_911
    specs, config = prepare_federation("taobao-userbehavior", 4, tmp_path, "in-process", partition_key="occupation")
    assert sum(s.users for s in specs) == viewers and sum(s.interactions for s in specs) == ev.num_rows
    assert config["n_items"] == len(np.unique(funnel["item"]))  # the catalogue holds the ads the logs name


def test_pooled_auc_equals_scikit_learn_on_the_concatenated_sites():
    from sklearn.metrics import roc_auc_score

    from simulation.runner import pooled_auc

    rng = np.random.default_rng(0)
    sites = [{"ctr_labels": rng.integers(0, 2, 50).astype(float), "ctr_scores": rng.normal(size=50),
              "cvr_labels": rng.integers(0, 2, 20).astype(float), "cvr_scores": rng.normal(size=20)} for _ in range(3)]
    got = pooled_auc(sites)
    for head in ("ctr", "cvr"):
        y = np.concatenate([s[f"{head}_labels"] for s in sites])
        x = np.concatenate([s[f"{head}_scores"] for s in sites])
        assert got[f"{head}_auc"] == pytest.approx(roc_auc_score(y, x)) and got[f"{head}_positives"] == int(y.sum())
