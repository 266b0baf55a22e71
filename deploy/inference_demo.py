"""The end of `make demo`: real gRPC calls to serving that show recorded behaviour moving a ranking."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from admodels.data.movielens import load_titles
from admodels.data.site_files import read_site_file
from fedads.runtime.server import channel
from fedads.v1 import serving_pb2 as spb
from fedads.v1 import serving_pb2_grpc


def show_ranking_shift(address: str, workdir: Path, dataset: str, site_folder: Path, seed: int = 0) -> dict:
    stub = serving_pb2_grpc.ServingServiceStub(channel(address))
    catalogue = json.loads((workdir / "catalogue.json").read_text())
    titles = load_titles(dataset)
    name = lambda idx: titles.get(catalogue[idx - 1], f"item {idx}")[:40]  # noqa: E731
    site = read_site_file(site_folder / "interactions.csv")
    user = site["user"][0]
    rows = np.flatnonzero(site["user"] == user)
    history = site["item"][rows][np.argsort(site["timestamp"][rows], kind="stable")]
    rng = np.random.default_rng(seed)
    candidates = [int(x) for x in rng.choice(np.arange(1, len(catalogue) + 1), 30, replace=False)]
    demo_user = f"demo-{seed}"
    before = stub.Rank(spb.RankRequest(user_id=demo_user, candidates=candidates, k=5), timeout=10)
    events = [spb.BehaviorEvent(user_id=demo_user, item_id=int(i), action="click") for i in history[-20:]]
    recorded = stub.RecordEvents(iter(events), timeout=10).recorded
    after = stub.Rank(spb.RankRequest(user_id=demo_user, candidates=candidates, k=5), timeout=10)
    print(f"[demo] serving model v{after.model_version}: Rank for {demo_user} over {len(candidates)} candidates")
    print(f"[demo]   before any behaviour (history {before.history_length}):")
    for p in before.ranked:
        print(f"[demo]     {p.p_ctr:.3f}  {name(p.item_id)}")
    print(f"[demo]   after RecordEvents of {recorded} clicks, e.g. {name(int(history[-1]))!r} "
          f"(history {after.history_length}):")
    for p in after.ranked:
        print(f"[demo]     {p.p_ctr:.3f}  {name(p.item_id)}")
    moved = [p.item_id for p in before.ranked] != [p.item_id for p in after.ranked] or \
        any(abs(a.p_ctr - b.p_ctr) > 1e-6 for a, b in zip(before.ranked, after.ranked))
    print(f"[demo]   ranking {'moved' if moved else 'did not move'} after the recorded behaviour")
    return {"model_version": after.model_version, "recorded": recorded, "moved": moved,
            "before": [p.item_id for p in before.ranked], "after": [p.item_id for p in after.ranked]}
