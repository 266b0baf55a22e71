"""The end of `make demo`: real gRPC calls to serving, by ad-id strings, that show recorded behaviour
moving a ranking."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fedads.catalog.catalog import Catalog
from fedads.eventlog.reader import read_events
from fedads.eventlog.site_data import SiteData
from fedads.runtime.server import channel
from fedads.runtime.tls import Transport
from fedads.v1 import serving_pb2 as spb
from fedads.v1 import serving_pb2_grpc


def show_ranking_shift(address: str, transport: Transport, workdir: Path, dataset: str, site_folder: Path,
                       seed: int = 0) -> dict:
    stub = serving_pb2_grpc.ServingServiceStub(channel(address, transport))
    catalog = Catalog.load(workdir / "catalog")
    has_title = "title" in catalog.ads.column_names
    titles = dict(zip(catalog.ad_ids(), catalog.ads.column("title").to_pylist() if has_title else catalog.ad_ids()))
    name = lambda ad: (titles.get(ad) or ad)[:40]  # noqa: E731
    events = read_events(SiteData.load(site_folder / "data").events)
    clicked = events.filter(events.column("click").to_numpy() == 1)
    users = clicked.column("user_id").to_numpy(zero_copy_only=False)
    user = users[0]
    mine = clicked.filter(users == user)
    ads = np.asarray(mine.column("ad_id").to_pylist(), dtype=object)[
        np.argsort(mine.column("timestamp").to_numpy(), kind="stable")]
    history, future = list(ads[:20]), list(dict.fromkeys(ads[20:]))[:10]
    rng = np.random.default_rng(seed)
    seen = set(ads)
    others = [a for a in np.asarray(catalog.ad_ids(), dtype=object)[rng.permutation(catalog.n_ads)]
              if a not in seen][:20]
    candidates = [spb.Candidate(ad_id=a) for a in rng.permutation(np.array(future + others, dtype=object))]
    demo_user = f"demo-{seed}"
    before = stub.Rank(spb.RankRequest(user_id=demo_user, candidates=candidates), timeout=10)
    recorded = stub.RecordEvents(iter([spb.BehaviorEvent(user_id=demo_user, ad_id=a, action="click")
                                       for a in history]), timeout=10).recorded
    after = stub.Rank(spb.RankRequest(user_id=demo_user, candidates=candidates), timeout=10)
    hits_before = sum(p.ad_id in future for p in before.ranked[:10])
    hits_after = sum(p.ad_id in future for p in after.ranked[:10])
    rank_before = float(np.mean([i + 1 for i, p in enumerate(before.ranked) if p.ad_id in future]))
    rank_after = float(np.mean([i + 1 for i, p in enumerate(after.ranked) if p.ad_id in future]))
    print(f"[demo] serving model v{after.model_version} (catalogue v{after.catalog_version}): Rank for {demo_user} "
          f"over {len(candidates)} ads ({len(future)} of them ads user {user} of {site_folder.name} went on to click)")
    print(f"[demo]   before any behaviour (history {before.history_length}): top 5")
    for p in before.ranked[:5]:
        print(f"[demo]     {p.p_ctr:.3f}  {name(p.ad_id)}{'  *' if p.ad_id in future else ''}")
    print(f"[demo]   after RecordEvents of {recorded} of the user's clicks, e.g. {name(history[-1])!r} "
          f"(history {after.history_length}): top 5")
    for p in after.ranked[:5]:
        print(f"[demo]     {p.p_ctr:.3f}  {name(p.ad_id)}{'  *' if p.ad_id in future else ''}")
    order_changed = [p.ad_id for p in before.ranked] != [p.ad_id for p in after.ranked]
    print(f"[demo]   ranking {'moved' if order_changed else 'kept its order'}: the user's next ads (*) now rank "
          f"{rank_after:.1f} on average (was {rank_before:.1f}); {hits_after} of them in the top 10 (was {hits_before})")
    return {"model_version": after.model_version, "catalog_version": after.catalog_version, "recorded": recorded,
            "order_changed": order_changed, "future_ads_in_top10": {"before": hits_before, "after": hits_after},
            "future_ads_mean_rank": {"before": rank_before, "after": rank_after},
            "before": [p.ad_id for p in before.ranked], "after": [p.ad_id for p in after.ranked]}
