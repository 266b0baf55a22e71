"""The semantic stage in the model: cold ads scored through their text, distillation, scopes, and what is sent."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from admodels.data.sequences import SequenceData
from admodels.models.ad_features import AdFeatures, FeatureError, initial_config, model_features
from admodels.models.fedads_model import FedAdsModel, ModelConfig, PrivateUserState, build_model
from admodels.models.semantic import Distillation, item_counts, rarity_weights
from admodels.scopes import parameter_scopes
from admodels.training import TrainSettings, score_candidates, train_local
from fedads.catalog.build import build_catalog
from fedads.catalog.schema import CatalogSchema, FeatureSpec
from fedads.catalog.text_encoder import PACKAGED, SentenceEncoder

SCHEMA = CatalogSchema((FeatureSpec("genres", "categorical", "|"), FeatureSpec("title", "text")),
                       text_encoder=PACKAGED, text_fields=("title", "genres"))
ANIMATION = [("Toy Story (1995)", "Animation|Children's|Comedy"), ("Aladdin (1992)", "Animation|Children's|Musical"),
             ("The Lion King (1994)", "Animation|Children's|Musical"), ("Pinocchio (1940)", "Animation|Children's"),
             ("Cinderella (1950)", "Animation|Children's|Musical")]
HORROR = [("Scream (1996)", "Horror|Thriller"), ("Halloween (1978)", "Horror"), ("The Shining (1980)", "Horror"),
          ("A Nightmare on Elm Street (1984)", "Horror"), ("Friday the 13th (1980)", "Horror")]
# Never in any training record: each is a sequel of a trained ad of its own genre.
COLD = [("Toy Story 2 (1999)", "Animation|Children's|Comedy"), ("Scream 2 (1997)", "Horror|Thriller")]
ARCH = dict(dim=16, layers=1, heads=2, ffn_hidden=16, din_hidden=16, head_hidden=16, max_seq_len=6, dropout=0.0)


@pytest.fixture(scope="module")
def catalog():
    rows = ANIMATION + HORROR + COLD
    feed = pa.table({"ad_id": [f"m{i}" for i in range(len(rows))], "genres": [g for _, g in rows],
                     "title": [t for t, _ in rows]})
    return build_catalog(feed, SCHEMA, encoder=SentenceEncoder())


def taste_data(n_users: int = 40, length: int = 8, seed: int = 0) -> SequenceData:
    """Half the users watch only the trained animation ads (1-5), half only the trained horror ads (6-10)."""
    rng = np.random.default_rng(seed)
    user, item, ts = [], [], []
    for u in range(n_users):
        pool = np.arange(1, 6) if u % 2 == 0 else np.arange(6, 11)
        user += [u] * length
        item += list(rng.choice(pool, length))
        ts += list(range(length))
    return SequenceData.from_arrays(user, item, ts, np.full(len(user), 5.0), 12, ARCH["max_seq_len"])


def semantic_model(catalog, **extra) -> FedAdsModel:
    config = ModelConfig.from_dict(initial_config({**ARCH, "use_features": False, "use_semantics": True, **extra},
                                                  catalog))
    return build_model(config, seed=0, ad_features=model_features(catalog, config))


def test_cold_ads_rank_beside_semantically_similar_trained_ads(catalog):
    data = taste_data()
    model = semantic_model(catalog)
    assert model.config.semantic_dim == 384
    train_local(model, None, data, TrainSettings(epochs=15, lr=0.02, batch_size=64, negatives=4, seed=0))
    users = np.arange(data.n_users)
    seq = data.histories(data.ends - 1)
    cands = np.tile(np.arange(1, 13), (len(users), 1))
    scores = score_candidates(model, None, seq, users, cands)
    animation_fans = users % 2 == 0
    toy2, scream2 = scores[:, 10], scores[:, 11]
    # Each cold ad scores above every ad of the other taste, for nearly every user of its own taste, and
    # each user prefers the cold ad of their own taste over the other one.
    assert np.mean(toy2[animation_fans][:, None] > scores[animation_fans][:, 5:10]) > 0.9
    assert np.mean(scream2[~animation_fans][:, None] > scores[~animation_fans][:, 0:5]) > 0.9
    assert np.mean(np.where(animation_fans, toy2 > scream2, scream2 > toy2)) > 0.9
    # Only through semantics: the cold ads' id rows are their initial noise less the sampled-negative pushes,
    # and an id-only model trained the same way cannot tell which taste a cold ad belongs to.
    id_only = build_model(ModelConfig(n_items=12, **ARCH), seed=0)
    train_local(id_only, None, data, TrainSettings(epochs=15, lr=0.02, batch_size=64, negatives=4, seed=0))
    s = score_candidates(id_only, None, seq, users, cands)
    id_taste = np.mean(np.where(animation_fans, s[:, 10] > s[:, 11], s[:, 11] > s[:, 10]))
    assert np.mean(np.where(animation_fans, toy2 > scream2, scream2 > toy2)) - id_taste >= 0.3


def test_distillation_pulls_id_embeddings_toward_their_semantic_projection_rare_ads_most(catalog):
    data = taste_data()
    counts = item_counts(data)
    assert counts[11] == counts[12] == 0 and counts[1:11].sum() == len(data.items) - data.n_users  # test held out
    np.testing.assert_allclose(rarity_weights(counts)[1:], np.exp(-counts[1:]))
    model = semantic_model(catalog)
    adaptor = {k: v.clone() for k, v in model.semantic.state_dict().items()}
    distill = Distillation(model, counts, weight=1.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    ids = torch.arange(1, 13)

    def gaps():
        with torch.no_grad():
            return (model.item_emb(ids) - model.semantic_embed(ids)).norm(dim=-1).numpy()

    before = gaps()
    for _ in range(30):
        opt.zero_grad()
        distill.loss(ids).backward()
        opt.step()
    after = gaps()
    assert np.all(after <= before + 1e-6) and np.all(after[10:] < before[10:])
    # A never-seen ad (weight 1) closes most of its gap; a popular one (weight e^-30) keeps its id embedding.
    shrink = after / before
    assert shrink[10] < 0.2 and shrink[11] < 0.2 and np.all(shrink[:10] > 0.7)
    # The semantic side is the teacher (detached): the shared adaptor does not move toward the id rows.
    assert all(torch.equal(adaptor[k], v) for k, v in model.semantic.state_dict().items())


def test_distill_weight_in_training_and_its_refusals(catalog):
    data = taste_data()
    gap = {}
    for weight in (0.0, 1.0):
        model = semantic_model(catalog)
        train_local(model, None, data, TrainSettings(epochs=8, lr=0.01, batch_size=64, seed=0, distill_weight=weight))
        with torch.no_grad():
            ids = torch.tensor([11, 12])
            gap[weight] = float((model.item_emb(ids) - model.semantic_embed(ids)).norm(dim=-1).mean())
    assert gap[1.0] < 0.75 * gap[0.0]
    with pytest.raises(ValueError, match="needs a model with semantics"):
        train_local(build_model(ModelConfig(n_items=12, **ARCH)), None, data, TrainSettings(distill_weight=1.0))
    from functools import partial

    from privacy.dp.dpsgd import DPSGDStep
    step = partial(DPSGDStep, noise_multiplier=1.0, clip_norm=1.0, sample_rate=0.1)
    with pytest.raises(ValueError, match="record-level DP-SGD"):
        train_local(semantic_model(catalog), None, data, TrainSettings(distill_weight=1.0), step_factory=step)


def test_semantic_parameters_are_scoped_and_the_text_vectors_are_never_published(catalog):
    sem = semantic_model(catalog, use_features=True)
    plain = build_model(ModelConfig.from_dict(initial_config(ARCH, catalog)), seed=0,
                        ad_features=model_features(catalog, ModelConfig.from_dict(initial_config(ARCH, catalog))))
    scopes = sem.shared_scopes()
    assert set(scopes) == {n for n, _ in sem.named_parameters()}
    assert {scopes["semantic.proj.weight"], scopes["semantic.proj.bias"]} == {"global"}
    published = sem.publication()["tensors"]
    assert "_semantic_vectors" not in published and "_semantic_vectors" not in sem.state_dict()
    vectors = catalog.semantic[1:].astype("<f4")
    assert not any(v.tobytes()[:64] in t.tobytes() for t in published.values() for v in vectors)
    # The adaptor is added last: every other parameter initialises exactly as in the model without it.
    plain_state = plain.shared_state()
    assert set(published) - set(plain_state) == {"semantic.proj.weight", "semantic.proj.bias"}
    assert all(np.array_equal(plain_state[k], published[k]) for k in plain_state)
    # An id-only config reads nothing from the catalogue and has no semantic tensors.
    assert model_features(catalog, ModelConfig.from_dict(initial_config({**ARCH, "use_features": False}, catalog))) is None
    assert not any("semantic" in n for n in parameter_scopes(FedAdsModel(ModelConfig(n_items=12, **ARCH))))
    assert set(parameter_scopes(PrivateUserState(sem.config, 3)).values()) == {"private"}


def test_semantic_configs_refuse_catalogues_without_matching_vectors(catalog):
    plain = build_catalog(pa.table({"ad_id": ["a", "b"], "genres": ["Horror", "Drama"], "title": ["A", "B"]}),
                          CatalogSchema((FeatureSpec("genres", "categorical", "|"), FeatureSpec("title", "text"))))
    with pytest.raises(FeatureError, match="holds no text vectors"):
        initial_config({"use_semantics": True}, plain)
    config = ModelConfig.from_dict(initial_config({**ARCH, "use_semantics": True}, catalog))
    with pytest.raises(FeatureError, match="384-dimensional"):
        AdFeatures.from_catalog(catalog, list(config.features), text_dim=128)
    with pytest.raises(ValueError, match="needs semantic_dim"):
        FedAdsModel(ModelConfig(n_items=12, use_semantics=True, **ARCH))
    model = FedAdsModel(config)
    with pytest.raises(ValueError, match="text vectors of shape"):
        model.attach_features(AdFeatures(AdFeatures.from_catalog(catalog, list(config.features)).codes))
    with pytest.raises(RuntimeError, match="none attached"):
        model.semantic_embed(torch.tensor([1]))


def test_the_round_config_carries_distill_weight_with_one_default():
    from admodels.training import DISTILL_WEIGHT
    from coordinator.round_config import RoundConfigError, RoundSettings
    from fedads.v1 import admin_pb2 as pb

    assert RoundSettings.from_proto(pb.RoundConfig()).distill_weight == DISTILL_WEIGHT == TrainSettings().distill_weight == 0
    assert RoundSettings.from_proto(pb.RoundConfig(distill_weight=0.5)).distill_weight == 0.5
    for bad in (-0.1, float("nan"), 1e6):
        with pytest.raises(RoundConfigError, match="distill weight"):
            RoundSettings.from_proto(pb.RoundConfig(distill_weight=bad))


def test_serving_extends_a_semantic_model_to_ads_added_after_training(catalog, tmp_path):
    """serving.newer_ads: an ad appended to the catalogue after training is embedded through its text."""
    from serving.newer_ads import extend_model

    catalog = catalog.write(tmp_path / "c1")
    model = semantic_model(catalog, use_features=True).eval()
    feed = pa.table({"ad_id": ["m-new"], "genres": ["Horror"], "title": ["Halloween II (1981)"]})
    newer = build_catalog(pa.concat_tables([catalog.ads.select(["ad_id", "genres", "title"]), feed]), SCHEMA,
                          parent=catalog, encoder=SentenceEncoder()).write(tmp_path / "c2")
    grown = extend_model(model, catalog, newer)
    new = newer.n_ads
    with torch.no_grad():
        known = torch.arange(1, catalog.n_ads + 1)
        assert torch.allclose(grown.ad_embed(known), model.ad_embed(known), atol=1e-6)  # known ads do not move
        # The new ad's id row is empty: what it is comes from its genre row and its projected text vector.
        projected = grown.semantic_embed(torch.tensor([new]))
        expected = grown.semantic(torch.from_numpy(newer.semantic[[new]]))
        assert torch.allclose(projected, expected) and float(projected.norm()) > 0
        sims = torch.nn.functional.cosine_similarity(grown.semantic_embed(known), projected)
        assert int(sims.argmax()) + 1 in range(6, 11)  # nearest in the shared space: a horror ad
