"""Ad features in the model: declared from the catalogue, shared by sequence and candidate, grown with it."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from admodels.models.ad_features import (NUMERIC_ROWS, AdFeatures, declared_features, grown_config, initial_config,
                                         model_features)
from admodels.models.fedads_model import ModelConfig, PrivateUserState, build_model
from admodels.models.growth import grow_tensors
from admodels.training import LocalStep, TrainSettings, example_losses
from fedads.catalog.build import build_catalog
from fedads.catalog.schema import CatalogSchema, FeatureSpec
from privacy.dp.dpsgd import DPSGDStep

SCHEMA = CatalogSchema((FeatureSpec("category", "categorical"), FeatureSpec("tags", "categorical", "|"),
                        FeatureSpec("price", "numeric"), FeatureSpec("title", "text")))
SMALL = dict(dim=16, ffn_hidden=16, max_seq_len=6, dropout=0.0, layers=1)


def _catalog(categories, tags=None, prices=None, parent=None):
    n = len(categories)
    feed = pa.table({"ad_id": pa.array([f"a{i}" for i in range(n)]), "category": pa.array(categories, pa.string()),
                     "tags": pa.array(tags or ["x"] * n, pa.string()),
                     "price": pa.array(prices if prices is not None else np.arange(n, dtype=np.float64)),
                     "title": pa.array(["t"] * n)})
    return build_catalog(feed, SCHEMA, parent)


def _model(catalog, seed=0, **overrides):
    config = ModelConfig.from_dict(initial_config({**SMALL, **overrides}, catalog))
    return build_model(config, seed=seed, ad_features=model_features(catalog, config)), config


def test_features_are_declared_from_the_schema_with_global_tables_and_codes_that_are_not_weights():
    catalog = _catalog(["c1", "c2", None, "c1"], ["x|y", "y", "", "x|y|z"], [1.0, float("nan"), 5.0, 9.0])
    assert [(f["name"], f["kind"], f["multi"]) for f in declared_features(catalog)] == [
        ("category", "categorical", False), ("tags", "categorical", True), ("price", "numeric", False)]
    model, config = _model(catalog)
    assert config.features[0]["rows"] == catalog.vocab_size("category") == 4  # padding, unknown, c1, c2
    scopes = model.shared_scopes()
    for f in ("category", "tags", "price"):
        assert scopes[f"feature_emb.{f}.weight"] == "global"
    published = model.publication()
    assert set(published["tensors"]) == set(scopes)  # codes are buffers: not published, not aggregated
    assert not any("codes" in name for name in published["tensors"])
    codes = AdFeatures.from_catalog(catalog, config.features).codes
    assert codes["category"][:, 0].tolist() == [0, 2, 3, 1, 2]  # padding ad, c1, c2, unknown, c1
    assert codes["tags"].tolist() == [[0, 0, 0], [2, 3, 0], [3, 0, 0], [1, 0, 0], [2, 3, 4]]
    bounds = catalog.manifest["numeric_stats"]["price"]["boundaries"]
    bucket = lambda x: 2 + int(np.searchsorted(bounds, x, side="right"))  # noqa: E731
    expected = [0, bucket(1.0), 1, bucket(5.0), bucket(9.0)]  # padding ad, 1.0, missing, 5.0, 9.0
    assert codes["price"][:, 0].tolist() == expected and max(expected) < NUMERIC_ROWS
    # id-only for comparison: the flag leaves every feature table out.
    id_only, id_config = _model(catalog, use_features=False)
    assert id_config.features == [] and not any(n.startswith("feature_emb") for n in id_only.shared_scopes())


def test_an_ad_is_its_id_plus_its_pooled_features_and_the_tables_serve_sequence_and_candidate_alike():
    catalog = _catalog(["c1", "c2", "c3", "c1"], ["x|y", "y", "z", "x"])
    model, _ = _model(catalog)
    ids = torch.tensor([1, 2])
    e = model.feature_emb
    expected = (model.item_emb(ids) + e["category"](torch.tensor([2, 3])) + e["price"].weight[
        torch.from_numpy(model.feature_codes(ids)["price"][:, 0].numpy())]
        + torch.stack([(e["tags"].weight[2] + e["tags"].weight[3]) / 2, e["tags"].weight[3]]))
    torch.testing.assert_close(model.ad_embed(ids), expected)
    # Category c3 (ad 3) is read only by the sequence, c2 (ad 2) only by the candidates: one table gets both.
    seq, cands = torch.tensor([[0, 0, 0, 0, 3, 3]]), torch.tensor([[2]])
    model.train()
    model(seq, cands)["ctr_logit"].sum().backward()
    grad = model.feature_emb["category"].weight.grad
    assert grad[4].abs().sum() > 0 and grad[3].abs().sum() > 0  # c3 (code 4) from the sequence, c2 from the candidate
    assert grad[2].abs().sum() == 0 and grad[0].abs().sum() == 0  # unread c1, padding
    assert len([n for n in model.shared_scopes() if n.startswith("feature_emb.category")]) == 1


def test_an_unseen_ad_is_scored_through_its_category():
    """Ads of category `hot` are clicked, ads of `cold` are not; two ads never seen in training, one `hot`
    and one with no category, must then score apart, the `hot` one higher."""
    n_hot, n_cold = 20, 20
    cats = ["hot"] * n_hot + ["cold"] * n_cold + ["hot", None]
    catalog = _catalog(cats, ["x"] * len(cats), [1.0] * len(cats))
    model, config = _model(catalog, seed=3)
    unseen_hot, unseen_unknown = n_hot + n_cold + 1, n_hot + n_cold + 2
    gen = torch.Generator().manual_seed(0)
    step = LocalStep(model, None, TrainSettings(lr=3e-3))
    for _ in range(80):
        seq = torch.randint(1, n_hot + 1, (32, 6), generator=gen)
        pos = torch.randint(1, n_hot + 1, (32, 1), generator=gen)
        neg = torch.randint(n_hot + 1, n_hot + n_cold + 1, (32, 3), generator=gen)
        step.step(seq, torch.zeros(32, dtype=torch.long), torch.cat([pos, neg], 1), torch.zeros(32, 2))
    model.eval()
    seq = torch.randint(1, n_hot + 1, (8, 6), generator=gen)
    with torch.no_grad():
        out = model(seq, torch.tensor([[unseen_hot, unseen_unknown]] * 8))["ctr_logit"]
    assert bool((out[:, 0] > out[:, 1]).all()), out


def test_tables_grow_with_the_catalogue_and_old_rows_keep_their_values(tmp_path):
    old_catalog = _catalog(["c1", "c2"], ["x", "y"]).write(tmp_path / "v1")
    model, config = _model(old_catalog)
    feed = pa.table({"ad_id": pa.array(["a0", "a1", "new"]), "category": pa.array(["c1", "c2", "c9"]),
                     "tags": pa.array(["x", "y", "w|v"]), "price": pa.array([0.0, 1.0, 7.0]),
                     "title": pa.array(["t", "t", "t"])})
    new_catalog = build_catalog(feed, SCHEMA, old_catalog)
    new_config = ModelConfig.from_dict(grown_config(config.to_dict(), new_catalog))
    assert new_config.n_items == 3 and new_config.features[0]["rows"] == 5 and new_config.features[1]["rows"] == 6
    grown = grow_tensors(model.shared_state(), config, new_config, seed=1)
    old = model.shared_state()
    assert grown["feature_emb.category.weight"].shape == (5, SMALL["dim"])
    np.testing.assert_array_equal(grown["feature_emb.category.weight"][:4], old["feature_emb.category.weight"])
    bigger = build_model(new_config, ad_features=model_features(new_catalog, new_config))
    bigger.load_shared_state(grown)
    assert torch.isfinite(bigger(torch.tensor([[0, 1, 2, 3, 3, 3]]), torch.tensor([[3, 1]]))["ctr_logit"]).all()
    # An id-only model grows as before: no tables appear.
    id_only, id_config = _model(old_catalog, use_features=False)
    assert ModelConfig.from_dict(grown_config(id_config.to_dict(), new_catalog)).features == []


def test_a_feature_model_without_its_catalogues_codes_refuses_to_score():
    catalog = _catalog(["c1", "c2"])
    config = ModelConfig.from_dict(initial_config(SMALL, catalog))
    bare = build_model(config)
    with pytest.raises(RuntimeError, match="AdFeatures"):
        bare(torch.tensor([[0, 0, 0, 0, 1, 2]]), torch.tensor([[1]]))
    smaller = _catalog(["c1"])
    with pytest.raises(ValueError, match="cover 1 ads"):
        bare.attach_features(AdFeatures.from_catalog(smaller, config.features))


def test_dp_sgd_per_record_gradients_with_features_equal_one_backward_per_record():
    catalog = _catalog([f"c{i % 4}" for i in range(30)], [f"x|y{i % 3}" for i in range(30)])
    model, config = _model(catalog, seed=1)
    private = PrivateUserState(config, 5, seed=2)
    settings = TrainSettings(lr=1e-3)
    step = DPSGDStep(model, private, settings, noise_multiplier=1.0, clip_norm=1.0, sample_rate=0.5)
    gen = torch.Generator().manual_seed(0)
    seq, cands = torch.randint(1, 31, (4, 6), generator=gen), torch.randint(1, 31, (4, 3), generator=gen)
    seq[0, :2] = 0
    users, rating = torch.tensor([0, 1, 2, 3]), torch.tensor([[1.0, 0.5], [0.0, 0.1], [1.0, 0.2], [0.0, 0.0]])
    grads = step.dense_record_gradients(seq, users, cands, rating)
    for i in range(len(seq)):
        model.zero_grad()
        private.zero_grad()
        loss = example_losses(model(seq[i:i + 1], cands[i:i + 1], users[i:i + 1], private), rating[i:i + 1],
                              settings)[0]
        loss.backward()
        for k, p in (*step.shared.items(), *step.private.items()):
            expected = p.grad if p.grad is not None else torch.zeros_like(p)
            torch.testing.assert_close(grads[k][i], expected, rtol=1e-4, atol=1e-6, msg=k)


def test_id_dropout_drops_id_embeddings_in_training_only():
    catalog = _catalog(["c1", "c2", "c3"])
    model, _ = _model(catalog, id_dropout=1.0)
    ids = torch.tensor([1, 2, 3])
    model.eval()
    full = model.ad_embed(ids)
    model.train()
    # Every id dropped: an ad is its features alone; in evaluation its id counts again.
    torch.testing.assert_close(model.ad_embed(ids), full - model.item_emb(ids))
    assert model.item_emb(ids).abs().sum() > 0


def test_serving_and_sites_build_a_feature_model_from_the_catalogue_its_manifest_names(tmp_path):
    from client_agent.site_trainer import SiteTrainer
    from fedads.datasets import synthetic
    from fedads.runtime.catalog_store import CatalogStore
    from fedads.runtime.registry import ModelRegistry
    from serving.model_holder import load_version

    registry = ModelRegistry(tmp_path / "registry")
    catalog, _ = CatalogStore(registry.root).import_catalog(synthetic.catalog(tmp_path / "c", 25).root)
    model, config = _model(catalog, seed=4)
    manifest = registry.publish(**model.publication(), parent_version=0, round_id=0, catalog=catalog.ref())
    loaded = load_version(registry, manifest["version"])
    _, weights = registry.read_bytes(manifest["version"])
    at_site = SiteTrainer.build_model(manifest, weights, catalog).eval()
    seq, cands = torch.tensor([[0, 0, 0, 3, 4, 5]]), torch.tensor([[1, 2, 25]])
    with torch.no_grad():
        expected = model.eval()(seq, cands)["ctr_logit"]
        torch.testing.assert_close(loaded.model(seq, cands)["ctr_logit"], expected)
        torch.testing.assert_close(at_site(seq, cands)["ctr_logit"], expected)
    assert [f["name"] for f in loaded.config.features] == ["category", "brand", "price"]
