"""Serving over real gRPC on loopback: an ad added to the catalogue after the served model was trained is
scored through its features; an ad in no catalogue is still refused."""
from __future__ import annotations

import grpc
import pyarrow as pa
import pytest
import torch

from admodels.models.ad_features import initial_config, model_features
from admodels.models.fedads_model import ModelConfig, build_model
from fedads.catalog.build import build_catalog
from fedads.datasets import synthetic
from fedads.runtime.catalog_store import CatalogStore
from fedads.runtime.registry import ModelRegistry
from fedads.runtime.server import channel
from fedads.runtime.tls import Transport
from fedads.v1 import serving_pb2 as spb
from fedads.v1 import serving_pb2_grpc
from serving.main import build_parser, build_server
from serving.model_holder import ModelHolder

N_ADS = 30
ARCH = dict(dim=16, ffn_hidden=16, max_seq_len=8, layers=1)


def _registry(root, features: bool = True):
    registry = ModelRegistry(root)
    catalog, _ = CatalogStore(root).import_catalog(synthetic.catalog(root.parent / f"{root.name}-c1", N_ADS).root)
    config = ModelConfig.from_dict(initial_config({**ARCH, "use_features": features}, catalog))
    model = build_model(config, seed=4, ad_features=model_features(catalog, config))
    registry.publish(**model.publication(), parent_version=0, round_id=0, catalog=catalog.ref())
    return registry, catalog, model


def _newer_catalogue(registry, v1, folder):
    """Version 2: ad-3's twin in category, brand and price (known rows), and an ad of a category the model
    has no row for."""
    feed = pa.table({"ad_id": ["new-twin", "new-stranger"], "category": ["cat-3", "cat-never-seen"],
                     "brand": ["brand-3", "brand-3"], "price": [3.99, 3.99]})
    built = build_catalog(pa.concat_tables([synthetic.feed(N_ADS), feed]), synthetic.SCHEMA, parent=v1)
    return CatalogStore(registry.root).import_catalog(built.write(folder).root)[0]


def _cands(*ids):
    return [spb.Candidate(ad_id=a, bid=1.0) for a in ids]


def test_an_ad_newer_than_the_models_catalogue_is_scored_through_its_features(tmp_path, redis_url):
    registry, v1, model = _registry(tmp_path / "registry")
    args = build_parser().parse_args(["--listen", "127.0.0.1:0", "--registry", str(registry.root), "--redis-url",
                                      redis_url, "--max-seq-len", "8", "--poll-s", "3600", "--insecure"])
    server = build_server(args)
    try:
        stub = serving_pb2_grpc.ServingServiceStub(channel(f"127.0.0.1:{server.port}", Transport.insecure()))
        before = stub.Predict(spb.PredictRequest(user_id="u", candidates=_cands("ad-3")))
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(spb.PredictRequest(user_id="u", candidates=_cands("ad-3", "new-twin")))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'new-twin'" in err.value.details()

        v2 = _newer_catalogue(registry, v1, tmp_path / "c2")
        assert server.holder.refresh()  # the served model, extended to catalogue version 2
        assert server.holder.current.version == 1 and server.holder.current.ad_catalog_version == 2
        out = stub.Rank(spb.RankRequest(user_id="u", candidates=_cands("ad-3", "new-twin", "new-stranger"),
                                        objective=spb.OBJECTIVE_ECPM_CPC))
        assert out.model_version == 1 and out.catalog_version == 1  # the model's own catalogue, as trained
        p = {r.ad_id: r.p_ctr for r in out.ranked}
        assert p["ad-3"] == pytest.approx(before.predictions[0].p_ctr, rel=1e-6)  # a known ad does not move
        # The twin is scored as the model scores an ad with ad-3's features and no id row: computed here in-process.
        with torch.no_grad():
            seq = torch.zeros(1, 8, dtype=torch.long)
            twin = {k: v[[3]][None] for k, v in model_features(v1, model.config).codes.items()}
            twin = {k: torch.from_numpy(v) for k, v in twin.items()}
            logit = model.eval()(seq, torch.zeros(1, 1, dtype=torch.long),
                                 codes=(model.feature_codes(seq), twin))["ctr_logit"]
        assert p["new-twin"] == pytest.approx(float(torch.sigmoid(logit)), rel=1e-5)
        assert p["new-twin"] != pytest.approx(p["new-stranger"], rel=1e-4)  # unknown category reads another row
        assert v2.lookup()["new-stranger"] == N_ADS + 2
        # Events may name the new ads, and they enter the user's history.
        assert stub.RecordEvents(iter([spb.BehaviorEvent(user_id="u", ad_id="new-twin")])).recorded == 1
        after = stub.Predict(spb.PredictRequest(user_id="u", candidates=_cands("ad-3")))
        assert after.history_length == 1 and after.predictions[0].p_ctr != pytest.approx(before.predictions[0].p_ctr)
        # An ad in no catalogue is still refused, naming the catalogue version it was looked up in.
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(spb.PredictRequest(user_id="u", candidates=_cands("new-twin", "nowhere")))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "'nowhere'" in err.value.details() and "version 2" in err.value.details()
        assert "'new-twin'" not in err.value.details()
    finally:
        server.stop_watch.set()
        server.stop(0)


def test_an_id_only_model_still_refuses_ads_newer_than_its_catalogue(tmp_path):
    registry, v1, _ = _registry(tmp_path / "registry", features=False)
    _newer_catalogue(registry, v1, tmp_path / "c2")
    holder = ModelHolder(registry)
    assert not holder.refresh()
    assert holder.current.ad_catalog_version == 1 and "new-twin" not in holder.current.ad_index
    assert holder.current.model.config.n_items == N_ADS
