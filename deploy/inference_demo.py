"""The end of `make demo`: real gRPC calls to serving that show recorded behaviour moving a ranking."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from admodels.data.movielens import load_titles
from admodels.data.site_files import read_site_file
from fedads.runtime.server import channel
from fedads.runtime.tls import Transport
from fedads.v1 import serving_pb2 as spb
from fedads.v1 import serving_pb2_grpc


def show_ranking_shift(address: str, transport: Transport, workdir: Path, dataset: str, site_folder: Path,
                       seed: int = 0) -> dict:
    stub = serving_pb2_grpc.ServingServiceStub(channel(address, transport))
    catalogue = json.loads((workdir / "catalogue.json").read_text())
    titles = load_titles(dataset)
    name = lambda idx: titles.get(catalogue[idx - 1], f"item {idx}")[:40]  # noqa: E731
    site = read_site_file(site_folder / "interactions.csv")
    user = site["user"][0]
    rows = np.flatnonzero(site["user"] == user)
    items = site["item"][rows][np.argsort(site["timestamp"][rows], kind="stable")]
    history, future = items[:20], list(dict.fromkeys(int(i) for i in items[20:]))[:10]
    rng = np.random.default_rng(seed)
    others = [int(x) for x in rng.permutation(np.arange(1, len(catalogue) + 1)) if int(x) not in set(items)][:20]
    candidates = [int(x) for x in rng.permutation(future + others)]
    demo_user = f"demo-{seed}"
    before = stub.Rank(spb.RankRequest(user_id=demo_user, candidates=candidates), timeout=10)
    events = [spb.BehaviorEvent(user_id=demo_user, item_id=int(i), action="click") for i in history]
    recorded = stub.RecordEvents(iter(events), timeout=10).recorded
    after = stub.Rank(spb.RankRequest(user_id=demo_user, candidates=candidates), timeout=10)
    hits_before = sum(p.item_id in future for p in before.ranked[:10])
    hits_after = sum(p.item_id in future for p in after.ranked[:10])
    rank_before = float(np.mean([i + 1 for i, p in enumerate(before.ranked) if p.item_id in future]))
    rank_after = float(np.mean([i + 1 for i, p in enumerate(after.ranked) if p.item_id in future]))
    print(f"[demo] serving model v{after.model_version}: Rank for {demo_user} over {len(candidates)} candidates "
          f"({len(future)} of them items this user went on to watch)")
    print(f"[demo]   before any behaviour (history {before.history_length}): top 5")
    for p in before.ranked[:5]:
        print(f"[demo]     {p.p_ctr:.3f}  {name(p.item_id)}{'  *' if p.item_id in future else ''}")
    print(f"[demo]   after RecordEvents of {recorded} of the user's clicks, e.g. {name(int(history[-1]))!r} "
          f"(history {after.history_length}): top 5")
    for p in after.ranked[:5]:
        print(f"[demo]     {p.p_ctr:.3f}  {name(p.item_id)}{'  *' if p.item_id in future else ''}")
    order_changed = [p.item_id for p in before.ranked] != [p.item_id for p in after.ranked]
    print(f"[demo]   ranking {'moved' if order_changed else 'kept its order'}: the user's next items (*) now rank "
          f"{rank_after:.1f} on average (was {rank_before:.1f}); {hits_after} of them in the top 10 (was {hits_before})")
    return {"model_version": after.model_version, "recorded": recorded, "order_changed": order_changed,
            "future_items_in_top10": {"before": hits_before, "after": hits_after},
            "future_items_mean_rank": {"before": rank_before, "after": rank_after},
            "before": [p.item_id for p in before.ranked], "after": [p.item_id for p in after.ranked]}
