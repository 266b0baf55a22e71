"""Impression-level training (logs with unclicked impressions) and the validation splits."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F

from admodels.data.impressions import DAY, ImpressionData
from admodels.data.sequences import SequenceData
from admodels.models.ad_features import initial_config
from admodels.models.fedads_model import ModelConfig, build_model
from admodels.training import TrainSettings, example_losses
from client_agent.local_store import LocalStore
from client_agent.site_trainer import SiteTrainer
from fedads.datasets import synthetic
from fedads.eventlog.reader import read_events
from fedads.eventlog.site_data import SiteData
from fedads.runtime.catalog_store import CatalogStore
from fedads.runtime.registry import ModelRegistry

T0 = 1_700_006_400 - 1_700_006_400 % DAY


def _log(rows):
    user, ad, ts, click, conv = zip(*rows)
    return pa.table({"user_id": pa.array(user), "ad_id": pa.array([synthetic.ad_id(a) for a in ad]),
                     "timestamp": pa.array(np.array(ts, np.int64)), "click": pa.array(np.array(click, np.int8)),
                     "conversion": pa.array(np.array(conv, np.int8)), "value": pa.array(np.array(conv, float) * 50)})


def test_histories_hold_only_the_users_earlier_clicks_and_the_split_follows_days(tmp_path):
    catalog = synthetic.catalog(tmp_path / "c", 10)
    rows = [("u", 1, T0, 1, 0), ("u", 2, T0 + 5, 0, 0), ("v", 3, T0 + 6, 1, 0), ("u", 4, T0 + 10, 1, 1),
            ("u", 5, T0 + 10, 1, 0),  # the same second as ad 4: neither is the other's history
            ("u", 6, T0 + DAY, 0, 0), ("u", 7, T0 + 2 * DAY, 1, 0), ("w", 8, T0 + 2 * DAY, 0, 0)]
    data = ImpressionData.from_events(read_events_table(tmp_path, rows), catalog, max_len=4)
    by_ad = {int(a): i for i, a in enumerate(data.item)}
    hist = lambda ad: data.histories(np.array([by_ad[ad]]))[0].tolist()  # noqa: E731
    assert hist(1) == [0, 0, 0, 0] and hist(2) == [0, 0, 0, 1] and hist(3) == [0, 0, 0, 0]
    assert hist(4) == [0, 0, 0, 1] and hist(5) == [0, 0, 0, 1]  # the unclicked ad 2 and v's click are not in it
    assert hist(6) == [0, 1, 4, 5] and hist(7) == [0, 1, 4, 5]
    assert data.split_rule == "days"
    assert sorted(data.item[data.indices("test")].tolist()) == [7, 8]
    assert data.item[data.indices("validation")].tolist() == [6]
    assert sorted(data.item[data.train_targets()].tolist()) == [1, 2, 3, 4, 5]  # unclicked impressions train too
    assert data.n_users == 3  # w never clicked and still has its private row


def read_events_table(tmp_path, rows):
    path = tmp_path / "events.parquet"
    pq.write_table(_log(rows), path)
    return read_events(path)


def test_a_log_of_fewer_than_three_days_is_split_by_time_order(tmp_path):
    catalog = synthetic.catalog(tmp_path / "c", 30)
    rows = [(f"u{i % 3}", i % 30 + 1, i, i % 2, 0) for i in range(40)]
    data = ImpressionData.from_events(read_events_table(tmp_path, rows), catalog, max_len=4)
    assert data.split_rule.startswith("time order")
    assert len(data.indices("test")) == 4 and len(data.indices("validation")) == 4
    assert data.item[data.indices("test")].tolist() == [7, 8, 9, 10]  # rows 36-39, the latest in time
    assert data.item[data.indices("validation")].tolist() == [3, 4, 5, 6]


def test_esmm_impression_loss_is_ctr_plus_ctcvr_over_every_impression_and_value_on_conversions():
    ctr, cvr, value = torch.tensor([[0.3], [-1.0], [2.0]]), torch.tensor([[0.5], [0.1], [-0.4]]), \
        torch.tensor([[0.7], [0.2], [0.9]])
    labels = torch.tensor([[1.0, 1.0, 0.5], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])  # click, conversion, value
    s = TrainSettings(ctr_weight=1.0, ctcvr_weight=0.5, value_weight=0.1)
    got = example_losses({"ctr_logit": ctr, "cvr_logit": cvr, "value": value}, labels, s)
    p_ctcvr = torch.sigmoid(ctr) * torch.sigmoid(cvr)  # ESMM: pCTCVR = pCTR·pCVR on every impression
    expected = (F.binary_cross_entropy_with_logits(ctr, labels[:, :1], reduction="none")[:, 0]
                + 0.5 * F.binary_cross_entropy(p_ctcvr, labels[:, 1:2], reduction="none")[:, 0]
                + 0.1 * torch.tensor([(0.7 - 0.5) ** 2, 0.0, 0.0]))
    torch.testing.assert_close(got, expected)


def test_a_site_with_impressions_trains_on_every_impression_and_is_judged_on_the_last_day(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    store = CatalogStore(registry.root)
    catalog, _ = store.import_catalog(synthetic.catalog(tmp_path / "c", 40).root)
    log = synthetic.events(900, 12, 40, ctr=0.3)
    days = np.repeat(np.arange(3), 300) * DAY + T0 + np.tile(np.arange(300), 3)
    log = log.set_column(log.column_names.index("timestamp"), "timestamp", pa.array(days.astype(np.int64)))
    pq.write_table(log, tmp_path / "events.parquet")
    config = ModelConfig.from_dict(initial_config(dict(dim=8, ffn_hidden=8, max_seq_len=5, layers=1), catalog))
    manifest = registry.publish(**build_model(config, seed=0).publication(), parent_version=0, round_id=0,
                                catalog=catalog.ref())
    from fedads.v1 import coordinator_pb2 as cpb

    train = cpb.TrainConfig(epochs=1, learning_rate=1e-3, batch_size=64, negatives=4, seed=0, weighting="samples")
    trainer = SiteTrainer("s", SiteData(tmp_path / "events.parquet"), LocalStore(tmp_path / "state"), "cpu",
                          catalogs=store)
    _, weights = registry.read_bytes(manifest["version"])
    out = trainer.train(manifest, weights, train)
    assert out.num_samples == 300  # the first day's impressions, clicked or not; no sampled negatives
    metrics = trainer.evaluate(manifest, weights)
    clicks = int(log.column("click").to_numpy()[600:].sum())
    assert metrics["ad_impressions"] == 300 and metrics["ad_clicks"] == clicks
    assert 0 <= metrics["ad_auc"] <= 1 and metrics["ad_calibration"] > 0
    val = trainer.evaluate(manifest, weights, split="validation")
    assert val["ad_impressions"] == 300 and val["ad_clicks"] == int(log.column("click").to_numpy()[300:600].sum())
    # The same log declared interaction-only would be refused by check; its clicked rows train leave-one-out.
    loo = SiteTrainer("s", SiteData(tmp_path / "events.parquet", interaction_only=True), LocalStore(tmp_path / "s2"),
                      "cpu", catalogs=store)
    assert isinstance(loo.data_for(config, catalog), SequenceData)


def test_the_validation_split_is_the_second_to_last_item_and_leaves_the_test_split_as_it_was():
    user = np.repeat([1, 2, 3], [5, 3, 1])
    item = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9])
    data = SequenceData.from_labels(user, item, np.arange(9), np.zeros(9), np.zeros(9), 30, 4)
    held = data.with_validation()
    assert data.train_targets().tolist() == [1, 2, 3, 6]
    assert held.train_targets().tolist() == [1, 2]  # 4 (user 1) and 7 (user 2) now validate
    users, hist, cands = held.eval_examples(5, seed=3, split="validation")
    assert users.tolist() == [0, 1] and cands[:, 0].tolist() == [4, 7]
    assert hist[0].tolist() == [0, 1, 2, 3] and hist[1].tolist() == [0, 0, 0, 6]
    for a, b in zip(data.eval_examples(5, seed=3), held.eval_examples(5, seed=3)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="no validation split"):
        data.eval_examples(5, split="validation")
