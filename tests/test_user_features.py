"""User-feature tables: declared by the site's data manifest, public ones shared (`global`), the others in the
site's private state; both feed the user vector."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from admodels.models.fedads_model import FedAdsModel, ModelConfig, PrivateUserState, build_model
from admodels.models.user_features import UserFeatureCodes, UserFeatureError, declared_user_features
from admodels.scopes import parameter_scopes
from admodels.training import LocalStep, TrainSettings
from fedads.eventlog.keys import user_keys
from fedads.eventlog.reader import EventLogError
from fedads.eventlog.site_data import SiteData
from privacy.dp.dpsgd import DPSGDStep

USERS = pa.table({"user_id": ["10", "11", "12", "u-13"], "gender": ["F", "M", "X", "M"],
                  "zip": ["9", "1", "9", "5"]})


def _site(tmp_path, public: bool = True, values=("F", "M")) -> SiteData:
    pq.write_table(USERS, tmp_path / "users.parquet")
    (tmp_path / "events.parquet").write_bytes(b"")
    site = SiteData(tmp_path / "events.parquet", tmp_path / "users.parquet", True, "t", ["gender", "zip"],
                    {"gender": list(values)} if public else {})
    site.write(tmp_path / "data.toml")
    return SiteData.load(tmp_path)


def _keys(*ids):
    return np.sort(user_keys(pa.array(list(ids))))


def test_manifest_round_trips_and_scopes_default_private(tmp_path):
    site = _site(tmp_path)
    assert site.user_feature_columns == ["gender", "zip"] and site.public_user_features == {"gender": ["F", "M"]}
    assert site.scope_of("gender") == "global" and site.scope_of("zip") == "private"
    assert declared_user_features(site) == [{"name": "gender", "scope": "global", "values": ["F", "M"]},
                                            {"name": "zip", "scope": "private"}]
    (tmp_path / "data.toml").write_text('events = "events.parquet"\nuser_features = "users.parquet"\n'
                                        'user_feature_columns = ["zip"]\n[public_user_features]\ngender = ["F"]\n')
    with pytest.raises(EventLogError, match="not in user_feature_columns"):
        SiteData.load(tmp_path)


def test_codes_follow_the_declared_values_and_the_sites_own_vocabulary(tmp_path):
    site = _site(tmp_path)
    keys = _keys("10", "11", "12", "u-13", "99")  # user 99 has no row in the table
    codes = UserFeatureCodes.build(site, declared_user_features(site), keys)
    order = {k: i for i, k in enumerate(keys)}
    at = lambda uid: order[user_keys(pa.array([uid]))[0]]  # noqa: E731
    g = codes.global_codes["gender"]
    # F and M read rows 2 and 3 of the shared table as the federation listed them; X and the missing user unknown.
    assert [g[at(u)] for u in ("10", "11", "12", "u-13", "99")] == [2, 3, 1, 3, 1]
    z = codes.private_codes["zip"]
    assert codes.private_rows == {"zip": 2 + 3}  # the site's own three values: 1, 5, 9
    assert [z[at(u)] for u in ("10", "11", "12", "u-13", "99")] == [4, 2, 4, 3, 1]
    # A site that did not declare gender public trains it in a private table instead.
    private_only = UserFeatureCodes.build(_site(tmp_path, public=False), declared_user_features(site), keys)
    assert set(private_only.global_codes) == set() and set(private_only.private_codes) == {"gender", "zip"}
    # A site whose public values differ from the model's would mean other rows by the same value: refused.
    with pytest.raises(UserFeatureError, match="declares the values"):
        UserFeatureCodes.build(_site(tmp_path, values=("M", "F")), declared_user_features(site), keys)


def _model_and_state(tmp_path, seed=0):
    site = _site(tmp_path)
    config = ModelConfig(n_items=20, dim=8, ffn_hidden=8, max_seq_len=5, layers=1,
                         user_features=declared_user_features(site))
    keys = _keys("10", "11", "12", "u-13")
    codes = UserFeatureCodes.build(site, config.user_features, keys)
    return config, build_model(config, seed=seed), PrivateUserState(config, len(keys), seed=3, user_features=codes)


def test_every_user_feature_table_declares_its_scope_and_private_ones_are_never_published(tmp_path):
    config, model, private = _model_and_state(tmp_path)
    shared = model.shared_scopes()
    assert set(shared) == {n for n, _ in model.named_parameters()}
    assert shared["user_feature_emb.gender.weight"] == "global"
    assert model.user_feature_emb["gender"].num_embeddings == 2 + 2
    assert not any("zip" in n for n in shared)
    assert parameter_scopes(private)["user_feature_emb.zip"] == "private"
    assert set(parameter_scopes(private).values()) == {"private"}
    assert set(model.publication()["tensors"]) == set(shared)
    # The codes are site data: buffers, never in the saved private state.
    assert set(private.state_dict()) == {"user_emb", "ffn_down", "ffn_up", "user_feature_emb.zip"}


def test_a_config_without_user_features_initialises_exactly_as_before(tmp_path):
    config, with_features, private_with = _model_and_state(tmp_path)
    bare_config = ModelConfig(**{**config.to_dict(), "user_features": []})
    bare = build_model(bare_config, seed=0)
    bare_private = PrivateUserState(bare_config, 4, seed=3)
    feats = dict(with_features.named_parameters())
    for name, p in bare.named_parameters():
        assert torch.equal(p, feats[name]), name
    for name, p in bare_private.named_parameters():
        assert torch.equal(p, dict(private_with.named_parameters())[name]), name
    assert set(feats) - dict(bare.named_parameters()).keys() == {"user_feature_emb.gender.weight"}


def test_user_features_move_the_user_vector_and_both_tables_train(tmp_path):
    config, model, private = _model_and_state(tmp_path)
    model.eval()
    seq = torch.tensor([[0, 3, 4, 5, 6]] * 4)
    cands = torch.tensor([[7, 8, 9]] * 4)
    users = torch.arange(4)
    with torch.no_grad():
        private.user_emb.zero_()  # the users differ only in their features now
        out = model(seq, cands, users, private)["ctr_logit"]
    # Users 1 and 3 share gender M but not zip; user 0 and 2 share zip 9 but not gender (F vs unknown).
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[3])
    assert not torch.allclose(out[0], out[2])
    model.train()
    before_g = model.user_feature_emb["gender"].weight.detach().clone()
    before_z = private.user_feature_emb["zip"].detach().clone()
    step = LocalStep(model, private, TrainSettings(lr=0.05))
    rating = torch.ones(4)
    targets = torch.tensor([[7]] * 4)
    for _ in range(2):
        step.opt.zero_grad()
        logit = model(seq, targets, users, private)["ctr_logit"][:, 0]
        torch.nn.functional.binary_cross_entropy_with_logits(logit, rating).backward()
        step.opt.step()
    moved_g = (model.user_feature_emb["gender"].weight - before_g).abs().sum(1)
    moved_z = (private.user_feature_emb["zip"] - before_z).abs().sum(1)
    assert moved_g[2] > 0 and moved_g[3] > 0 and moved_g[0] == 0  # F, M trained; padding never
    assert moved_z[2:].gt(0).all() and moved_z[0] == 0


def test_dp_sgd_refuses_user_features_rather_than_read_another_users(tmp_path):
    config, model, private = _model_and_state(tmp_path)
    with pytest.raises(ValueError, match="does not train user features"):
        DPSGDStep(model, private, TrainSettings(), noise_multiplier=1.0, clip_norm=1.0, sample_rate=0.1)


def test_site_mode_serving_reads_the_sites_user_features(tmp_path):
    from client_agent.local_store import LocalStore
    from serving.site_mode import SitePrivateParameters

    config, model, private = _model_and_state(tmp_path)
    with torch.no_grad():
        private.user_feature_emb["zip"].normal_()
    keys = _keys("10", "11", "12", "u-13")
    LocalStore(tmp_path / "state").save_private(private, keys)
    with pytest.raises(ValueError, match="--site-data"):
        SitePrivateParameters(tmp_path / "state", config)
    site = SitePrivateParameters(tmp_path / "state", config, tmp_path)
    assert torch.equal(site.private.user_feature_emb["zip"], private.user_feature_emb["zip"])
    users = torch.tensor([site.user_index("10"), site.user_index("u-13")])
    seq, cands = torch.tensor([[0, 3, 4, 5, 6]] * 2), torch.tensor([[7, 8]] * 2)
    with torch.no_grad():
        served = model.eval()(seq, cands, users, site.private)["ctr_logit"]
        trained = model(seq, cands, users, private)["ctr_logit"]
    torch.testing.assert_close(served, trained)


def test_client_agent_check_names_missing_declared_columns_and_undeclared_public_values(tmp_path):
    from client_agent.config import SiteConfig
    from client_agent.data_check import check_site
    from fedads.datasets import synthetic

    catalog = synthetic.catalog(tmp_path / "catalog", 5)
    events = pa.table({"user_id": ["10", "11"], "ad_id": ["ad-1", "ad-2"], "timestamp": [1, 2], "click": [1, 1]})
    data = tmp_path / "site" / "data"
    data.mkdir(parents=True)
    pq.write_table(events, data / "events.parquet")
    pq.write_table(USERS, data / "users.parquet")
    (tmp_path / "site" / "site.toml").write_text('site_id = "site-01"\ncoordinator = "127.0.0.1:1"\ndata = "data"\n'
                                                 'state_dir = "state"\ninsecure = true\n')

    def report(columns, public):
        SiteData(data / "events.parquet", data / "users.parquet", True, "t", columns, public).write(data / "data.toml")
        return check_site(SiteConfig.load(tmp_path / "site" / "site.toml"), catalog)

    ok = report(["gender", "zip"], {"gender": ["F", "M"]})
    assert ok.ok and any("'gender' has values outside its declared list" in w and "'X'" in w for w in ok.warnings)
    missing = report(["gender", "income"], {})
    assert not missing.ok and any("income" in e for e in missing.errors)
