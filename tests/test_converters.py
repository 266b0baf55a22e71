"""Each converter against its SOURCE.md, and MovieLens through the new path equals the old loader exactly."""
from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from admodels.data.ctr_formats import read_taobao_ad
from admodels.data.movielens import load_movielens
from admodels.data.partition import by_natural_key
from admodels.data.paths import find_dataset
from admodels.data.sequences import SequenceData
from fedads.catalog.catalog import Catalog
from fedads.datasets.converted import choose_users, split_users, write_federation
from fedads.datasets.registry import convert
from fedads.eventlog.check import check_events
from fedads.eventlog.reader import read_events
from fedads.eventlog.site_data import SiteData


def _distinct(table, column):
    return len(pc.unique(table.column(column)))


@pytest.mark.parametrize("max_users", [0, 200])
def test_movielens_through_catalogue_and_event_logs_gives_the_old_training_arrays(tmp_path, max_users):
    """The loader the recorded figures used: ratings → catalogue indices 1..n by sorted movie id, sites by
    zip region, a rating ≥ 4 converts, the value head regresses rating / 5."""
    d = load_movielens("ml-100k")
    users = np.unique(d.user)
    if max_users:
        users = np.sort(np.random.default_rng(0).choice(users, max_users, replace=False))
        d = d.subset_users(users)
    catalogue, idx = np.unique(d.item, return_inverse=True)
    old_sites = by_natural_key(d.user_ids, d.zip_region, 8)
    catalog, parts = write_federation(convert("ml-100k"), tmp_path, 8, "zip_region", 0, max_users)
    assert catalog.n_ads == len(catalogue) and catalog.ad_ids() == [str(x) for x in catalogue]
    for site_users, part in zip(old_sites, parts):
        rows = np.isin(d.user, site_users)
        old = SequenceData.from_arrays(d.user[rows], idx[rows] + 1, d.timestamp[rows], d.rating[rows], len(catalogue),
                                       50)
        new = SequenceData.from_events(read_events(SiteData.load(part.folder / "data").events), catalog, 50)
        for field in ("user_keys", "items", "conversions", "values", "starts", "ends"):
            assert np.array_equal(getattr(old, field), getattr(new, field)), field
        assert np.array_equal(old.eval_examples(99, 0)[2], new.eval_examples(99, 0)[2])


def test_movielens_converters_match_their_sources(tmp_path):
    small = convert("ml-100k")
    assert small.events.num_rows == 100_000 and small.feed.num_rows == 1_682 and len(small.user_ids) == 943
    assert small.interaction_only and small.users.num_rows == 943
    catalog, parts = write_federation(small, tmp_path / "s", 8)
    assert catalog.vocab_size("genres") == 19 + 2  # u.genre's 19 genres, padding and unknown
    assert catalog.ads.column("title")[0].as_py() == "Toy Story (1995)"
    assert catalog.ads.column("year")[0].as_py() == 1995.0
    assert sum(p.rows for p in parts) == 100_000
    big = convert("ml-1m")
    assert big.events.num_rows == 487_650 and big.feed.num_rows == 3_883 and len(big.user_ids) == 6_040
    assert _distinct(big.events, "user_id") == 2_999  # users 1-2999 only (SOURCE.md)
    share = pc.mean(big.events.column("conversion")).as_py()
    assert share == pytest.approx(0.572, abs=0.001)


def test_taobao_ad_sample_and_official_layout(tmp_path):
    dmr = convert("taobao-ad")
    ev = dmr.events
    assert ev.num_rows == 500 and int(pc.sum(ev.column("click")).as_py()) == 210
    assert _distinct(ev, "user_id") == 230 and _distinct(ev, "ad_id") == 297 and not dmr.interaction_only
    catalog, parts = write_federation(dmr, tmp_path / "dmr", 2, "dirichlet:1.0")
    assert catalog.n_ads == 297 and sum(p.rows for p in parts) == 500
    for p in parts:
        assert check_events(read_events(p.folder / "data" / "events.parquet"), catalog).ok
    # The official release's layout, written from the sample's own rows.
    t = read_taobao_ad(find_dataset("taobao-ad") / "alimama_dmr_sample_paddlerec.txt")
    folder = tmp_path / "official"
    folder.mkdir()
    n = len(t["click"])
    (folder / "raw_sample.csv").write_text("user,time_stamp,adgroup_id,pid,nonclk,clk\n" + "".join(
        f"{t['uid'][i]},{1494000000 + i},{t['mid'][i]},{t['pid'][i]},{1 - t['click'][i]},{t['click'][i]}\n"
        for i in range(n)))
    _, first = np.unique(t["mid"], return_index=True)
    (folder / "ad_feature.csv").write_text("adgroup_id,cate_id,campaign_id,customer,brand,price\n" + "".join(
        f"{t['mid'][i]},{t['cate_id'][i]},{t['campaign_id'][i]},{t['customer'][i]},{t['brand'][i]},{t['price'][i]}\n"
        for i in first))
    _, ufirst = np.unique(t["uid"], return_index=True)
    cols = ["cms_segid", "cms_group_id", "final_gender_code", "age_level", "pvalue_level", "shopping_level",
            "occupation", "new_user_class_level"]
    (folder / "user_profile.csv").write_text("userid," + ",".join(cols) + "\n" + "".join(
        f"{t['uid'][i]}," + ",".join(str(t[c][i]) for c in cols) + "\n" for i in ufirst))
    official = convert("taobao-ad", folder)
    assert official.events.num_rows == 500 and official.feed.num_rows == 297 and official.users.num_rows == 230
    assert official.events.column("ad_id").to_pylist() == dmr.events.column("ad_id").to_pylist()


def test_ali_ccp_and_criteo_samples(tmp_path):
    ali = convert("ali-ccp")
    assert ali.events.num_rows == 200 and not ali.interaction_only
    clicks = ali.events.column("click").to_numpy()
    assert (ali.events.column("conversion").to_numpy() <= clicks).all()
    catalog, parts = write_federation(ali, tmp_path / "ali", 1)
    assert check_events(read_events(parts[0].folder / "data" / "events.parquet"), catalog).ok
    paddle = convert("ali-ccp", find_dataset("ali-ccp") / "aitm_train_sample_paddlerec.csv")
    assert paddle.events.num_rows == 48
    criteo = convert("criteo")
    ev = criteo.events
    assert ev.num_rows == 1_000 and int(pc.sum(ev.column("click")).as_py()) == 205
    assert _distinct(ev, "user_id") == 1_000  # Criteo has no user id: every row is its own user
    catalog, parts = write_federation(criteo, tmp_path / "criteo", 3)  # default: dirichlet:0.5 over C9
    assert sum(p.rows for p in parts) == 1_000 and catalog.vocab_size("C9") > 2
    assert int(pc.sum(convert("criteo", find_dataset("criteo") / "deepctr_criteo_sample.txt")
                      .events.column("click")).as_py()) == 49


def test_data_cli_converts_and_says_offline_fetches_in_one_line(tmp_path):
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "fedads.datasets.cli", "convert", "taobao-userbehavior", "--out",
                          str(tmp_path / "ub"), "--sites", "4", "--json"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert Catalog.load(tmp_path / "ub" / "catalog").n_ads > 50_000
    for args, fragment in ((["fetch", "taobao-ad"], "signed-in download"),
                           (["convert", "ml-100k", "--out", str(tmp_path / "x"), "--split-by", "planet"],
                            "has no partition key 'planet'")):
        res = subprocess.run([sys.executable, "-m", "fedads.datasets.cli", *args], capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 2 and fragment in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_one_client_per_user_skips_users_without_events():
    # ML-1M offline has ratings for users 1-2999 of 6,040: a client per user must not include the others,
    # whose clients could neither train nor be evaluated. Here: ML-100K with its first 100 users' events removed.
    small = convert("ml-100k")
    silent = pa.array(small.user_ids[:100])
    conv = dataclasses.replace(small, events=small.events.filter(pc.invert(pc.is_in(small.events.column("user_id"),
                                                                                    value_set=silent))))
    sites = split_users(conv, choose_users(conv, 0, 0), 0, "user", 0)
    assert len(sites) == 843 and all(len(s) == 1 for s in sites)
    assert set(np.concatenate(sites)) == set(small.user_ids[100:])
    assert len(split_users(small, choose_users(small, 0, 0), 0, "user", 0)) == 943  # every ML-100K user has events
