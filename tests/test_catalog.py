"""The ad catalogue: string ids, vocabularies, content addressing, growth that moves no index."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
import torch

from admodels.models.fedads_model import ModelConfig, build_model
from admodels.models.growth import grow_tensors
from admodels.training import score_candidates
from fedads.catalog.build import build_catalog, read_feed
from fedads.catalog.catalog import Catalog, CatalogError
from fedads.catalog.schema import CatalogSchema, FeatureSpec, SchemaError
from fedads.datasets import synthetic
from fedads.runtime.catalog_store import CatalogStore

SCHEMA = CatalogSchema((FeatureSpec("category", "categorical"), FeatureSpec("tags", "categorical", "|"),
                        FeatureSpec("price", "numeric"), FeatureSpec("title", "text")))


def feed_csv(path, rows):
    path.write_text("ad_id,category,tags,price,title\n" + "".join(",".join(r) + "\n" for r in rows))
    return path


def test_string_ids_and_vocabularies(tmp_path):
    long_id = "x" * 300
    rows = [["00123", "shoes", "red|sale", "19.5", "Red shoes"], ["9007199254740993", "shoes", "blue", "", "Blue"],
            ["広告-1", "bags", "", "5", "Bag"], [long_id, "", "red", "7", "Long"]]
    cat = build_catalog(read_feed(feed_csv(tmp_path / "ads.csv", rows), SCHEMA), SCHEMA).write(tmp_path / "c1")
    back = Catalog.load(tmp_path / "c1")
    assert back.ad_ids() == ["00123", "9007199254740993", "広告-1", long_id]  # strings, never numbers
    assert back.ad_indices(["広告-1", "00123", "123", "9007199254740992"]).tolist() == [3, 1, 0, 0]
    assert back.vocab["category"] == ["shoes", "bags"] and back.vocab_size("category") == 4  # + padding, unknown
    assert back.feature_codes("category").tolist() == [0, 2, 2, 3, 1]  # row 0 padding; a missing value → unknown
    assert back.ads.column("tags__index").to_pylist() == [[2, 3], [4], [], [2]]
    assert back.manifest["numeric_stats"]["price"]["count"] == 3
    assert back.sha256 == cat.sha256 and back.manifest["vocab_sizes"]["tags"] == 5
    # The same content built again addresses the same catalogue.
    again = build_catalog(read_feed(tmp_path / "ads.csv", SCHEMA), SCHEMA).write(tmp_path / "c1b")
    assert again.sha256 == cat.sha256


def test_tampered_or_mixed_catalogues_are_refused(tmp_path):
    cat = synthetic.catalog(tmp_path / "c", 10)
    other = synthetic.catalog(tmp_path / "d", 11)
    (tmp_path / "c" / "vocab.parquet").write_bytes((tmp_path / "d" / "vocab.parquet").read_bytes())
    with pytest.raises(CatalogError, match="vocab.parquet does not match its sha256"):
        Catalog.load(tmp_path / "c")
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    manifest["schema"]["value_scale"] = 2.0
    (tmp_path / "d" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CatalogError, match="content does not match"):
        Catalog.load(tmp_path / "d")
    assert cat.sha256 != other.sha256


def test_bad_feeds_and_schemas_get_one_line_reasons(tmp_path):
    dup = feed_csv(tmp_path / "dup.csv", [["a", "x", "", "1", "t"], ["b", "x", "", "1", "t"], ["a", "y", "", "2", "t"]])
    with pytest.raises(CatalogError, match=r"duplicate ad_id 'a' \(rows 1 and 3\)"):
        build_catalog(read_feed(dup, SCHEMA), SCHEMA)
    (tmp_path / "missing.csv").write_text("ad_id,category\na,x\n")
    with pytest.raises(CatalogError, match="missing column"):
        read_feed(tmp_path / "missing.csv", SCHEMA)
    with pytest.raises(SchemaError, match="kind must be one of"):
        CatalogSchema((FeatureSpec("x", "embedding"),))
    (tmp_path / "s.toml").write_text('[[features]]\nname = "x"\nkind = "numeric"\nseparator = "|"\n')
    with pytest.raises(SchemaError, match="only categorical features take a separator"):
        CatalogSchema.load(tmp_path / "s.toml")


def test_growing_by_100_ads_keeps_every_index_and_an_old_model_still_scores(tmp_path):
    v1 = synthetic.catalog(tmp_path / "v1", 200)
    grown_feed = pa.concat_tables([synthetic.feed(100, start=101), synthetic.feed(100, start=201)])
    # The new feed lists some old ads (in another order) and 100 new ones; ads 1-100 are not in it.
    v2 = build_catalog(grown_feed.take(pa.array(np.random.default_rng(0).permutation(grown_feed.num_rows))),
                       synthetic.SCHEMA, parent=v1).write(tmp_path / "v2")
    old_ids = v1.ad_ids()
    assert v2.n_ads == 300 and v2.ad_ids()[:200] == old_ids and v2.manifest["parent_sha256"] == v1.sha256
    assert v2.ad_indices(old_ids).tolist() == list(range(1, 201))
    for f in ("category", "brand"):
        assert v2.vocab[f][:len(v1.vocab[f])] == v1.vocab[f]
        assert np.array_equal(v2.feature_codes(f)[:201], v1.feature_codes(f))
    # The registry takes the chain in order only.
    store = CatalogStore(tmp_path / "registry")
    with pytest.raises(CatalogError, match="does not follow"):
        store.import_catalog(v2.root)
    store.import_catalog(v1.root)
    store.import_catalog(v2.root)
    assert store.versions() == [1, 2]
    with pytest.raises(CatalogError, match="not the"):
        store.get(2, v1.sha256)
    # A model trained on v1 keeps scoring v1's ads identically once its tables grow to v2.
    old_cfg = ModelConfig(n_items=v1.n_ads, dim=8, ffn_hidden=8, max_seq_len=6, dropout=0.0)
    old = build_model(old_cfg, seed=4)
    new_cfg = ModelConfig(**{**old_cfg.to_dict(), "n_items": v2.n_ads})
    grown = build_model(new_cfg, seed=9)
    grown.load_shared_state(grow_tensors(old.shared_state(), old_cfg, new_cfg, seed=1))
    seq = np.array([[0, 0, 5, 17, 33, 150]])
    cands = np.array([[1, 2, 100, 199, 200]])
    with torch.no_grad():
        np.testing.assert_allclose(score_candidates(grown.eval(), None, seq, np.array([0]), cands),
                                   score_candidates(old.eval(), None, seq, np.array([0]), cands), rtol=1e-6)
        assert np.isfinite(score_candidates(grown, None, seq, np.array([0]), np.array([[250, 300]]))).all()
    assert grown.shared_scopes() == old.shared_scopes()


def test_catalog_cli_builds_grows_and_refuses_in_one_line(tmp_path):
    feed = feed_csv(tmp_path / "ads.csv", [["a", "x", "p|q", "1", "A"], ["b", "y", "", "2", "B"]])
    (tmp_path / "catalog.toml").write_text(SCHEMA.to_toml())

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "fedads.catalog.cli", *args], capture_output=True, text=True,
                              timeout=120)
    res = cli("build", "--ads", str(feed), "--schema", str(tmp_path / "catalog.toml"), "--out", str(tmp_path / "c1"),
              "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["n_ads"] == 2
    feed_csv(tmp_path / "more.csv", [["c", "z", "", "3", "C"]])
    res = cli("build", "--ads", str(tmp_path / "more.csv"), "--parent", str(tmp_path / "c1"), "--out",
              str(tmp_path / "c2"), "--json")
    out = json.loads(res.stdout)
    assert res.returncode == 0 and out["version"] == 2 and out["n_ads"] == 3 and out["added_ads"] == 1
    for args in (("build", "--ads", str(tmp_path / "nope.csv"), "--schema", str(tmp_path / "catalog.toml"),
                  "--out", str(tmp_path / "c3")), ("show", str(tmp_path))):
        res = cli(*args)
        assert res.returncode == 2 and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "--parent" in cli("build", "--help").stdout and cli("--version").returncode == 0


def test_a_site_refuses_a_model_whose_catalogue_it_cannot_get_or_whose_hash_differs(tmp_path):
    import pyarrow.parquet as pq

    from client_agent.catalogs import SiteCatalogs
    from client_agent.local_store import LocalStore
    from client_agent.site_trainer import SiteTrainer
    from fedads.eventlog.site_data import SiteData
    from fedads.runtime.registry import ModelRegistry
    from fedads.v1 import coordinator_pb2 as cpb

    registry = ModelRegistry(tmp_path / "registry")
    store = CatalogStore(registry.root)
    catalog, _ = store.import_catalog(synthetic.catalog(tmp_path / "c", 30).root)
    pq.write_table(synthetic.events(400, 10, 30, ctr=0.5), tmp_path / "events.parquet")
    config = ModelConfig(n_items=30, dim=8, ffn_hidden=8, max_seq_len=5)
    publication = build_model(config, seed=0).publication()
    good = registry.publish(**publication, parent_version=0, round_id=0, catalog=catalog.ref())
    forged = registry.publish(**publication, parent_version=0, round_id=0, catalog={"version": 1, "sha256": "f" * 64})
    absent = registry.publish(**publication, parent_version=0, round_id=0, catalog={"version": 7, "sha256": "e" * 64})
    site = SiteData(tmp_path / "events.parquet")
    train = cpb.TrainConfig(epochs=1, learning_rate=1e-3, batch_size=32, negatives=2, seed=0, weighting="samples")
    # Through the registry's store (simulation), and through a site's own copies fetched from it (agent).
    fetched = SiteCatalogs(tmp_path / "site-catalogs", lambda v, dest: Catalog.load(shutil.copytree(store.path(v), dest)))
    for source in (store, fetched):
        trainer = SiteTrainer("s", site, LocalStore(tmp_path / f"state-{id(source)}"), "cpu", catalogs=source)
        _, weights = registry.read_bytes(good["version"])
        assert trainer.train(good, weights, train).num_samples > 0
        for manifest, fragment in ((forged, "not the ffffffffffff"), (absent, "version 7")):
            with pytest.raises(CatalogError, match=fragment):
                trainer.train(manifest, registry.read_bytes(manifest["version"])[1], train)
