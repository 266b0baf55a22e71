"""The demo's last step: an auction over Taobao UserBehavior ads for a real held-out user.

A short federated run in process (simulation.runner, the sites' code path) trains the feature model on a
seeded sample of UserBehavior's users; serving is started on its registry as its own process; then a user
outside the sample (never trained on) is ranked by eCPM (bid × pCTR, objective ecpm_cpc) over ads of the
catalogue, before and after RecordEvents of their earlier clicks, and the demo prints whether the ads of
the categories that user went on to click moved up.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from deploy import processes as P
from fedads.catalog.catalog import Catalog
from fedads.datasets.registry import convert
from fedads.eventlog.reader import read_events
from fedads.eventlog.site_data import SiteData
from fedads.runtime.server import channel
from fedads.v1 import serving_pb2 as spb
from fedads.v1 import serving_pb2_grpc

DATASET = "taobao-userbehavior"
CANDIDATES = 100
PER_CATEGORY = 3  # candidate ads drawn from each category the user clicks next


def train(workdir: Path, sites: int, rounds: int, max_users: int, seed: int, epochs: int, lr: float) -> list[dict]:
    from simulation.runner import SimConfig, run

    # id_dropout 1.0: ads scored through their category, as docs/ads_model.md explains for this data.
    cfg = SimConfig(dataset=DATASET, sites=sites, partition="occupation", rounds=rounds, epochs=epochs, lr=lr,
                    max_users=max_users, max_targets_per_user=30, seed=seed, model={"id_dropout": 1.0})
    history = run(cfg, workdir, progress=False)
    for h in history:
        print(f"[demo]   UserBehavior round {h['round']}: CTR AUC {h.get('ad_auc', float('nan')):.3f} "
              f"(test split, {sites} sites)", flush=True)
    return history


def held_out_user(workdir: Path, catalog: Catalog, min_clicks: int = 12):
    """The held-out user with the most clicks on catalogue ads: (user, earlier ads, later ads), in time order."""
    trained = set()
    for data in sorted((workdir / "sites").glob("*/data")):
        trained |= set(read_events(SiteData.load(data).events).column("user_id").unique().to_pylist())
    events = convert(DATASET).events
    events = events.filter(pc.invert(pc.is_in(events.column("user_id"), value_set=pa.array(sorted(trained)))))
    events = events.filter(pa.array(catalog.ad_indices(events.column("ad_id")) > 0))
    if events.num_rows == 0:
        raise RuntimeError("no held-out UserBehavior user has clicks on catalogue ads; lower --auction-users")
    counts = pc.value_counts(events.column("user_id"))
    users, n = counts.field("values").to_pylist(), counts.field("counts").to_numpy(zero_copy_only=False)
    best = max(range(len(users)), key=lambda i: (n[i], users[i]))
    if n[best] < min_clicks:
        raise RuntimeError(f"the held-out users have at most {n[best]} clicks on catalogue ads")
    mine = events.filter(pc.equal(events.column("user_id"), users[best]))
    ads = np.asarray(mine.column("ad_id").to_pylist(), dtype=object)[
        np.argsort(mine.column("timestamp").to_numpy(), kind="stable")]
    cut = (2 * len(ads)) // 3
    return users[best], list(ads[:cut]), list(ads[cut:])


def candidates_for(catalog: Catalog, earlier: list, later: list, seed: int):
    """Up to PER_CATEGORY ads of each category the user clicks later (not ones already clicked), the rest
    random catalogue ads, each with a seeded bid."""
    category = dict(zip(catalog.ad_ids(), catalog.ads.column("category").to_pylist()))
    rng = np.random.default_rng(seed)
    next_categories = set(category[a] for a in later)
    clicked = set(earlier) | set(later)
    by_category: dict[str, list] = {}
    for a in np.asarray(catalog.ad_ids(), dtype=object)[rng.permutation(catalog.n_ads)]:
        by_category.setdefault(category[a], []).append(a)
    chosen = [a for c in sorted(next_categories) for a in [x for x in by_category[c] if x not in clicked][:PER_CATEGORY]]
    chosen = chosen[:CANDIDATES // 2]
    rest = [a for a in np.asarray(catalog.ad_ids(), dtype=object)[rng.permutation(catalog.n_ads)]
            if category[a] not in next_categories and a not in clicked][:CANDIDATES - len(chosen)]
    ads = list(rng.permutation(np.array(chosen + rest, dtype=object)))
    # Bids within ±10 %: the auction then turns on the predicted CTR, which is what the step shows.
    bids = np.round(rng.uniform(0.9, 1.1, len(ads)), 2)
    return [spb.Candidate(ad_id=a, bid=float(b)) for a, b in zip(ads, bids)], next_categories, category


def run_auction(workdir: Path, serving_flags: list[str], client_transport, seed: int = 0, sites: int = 2,
                rounds: int = 2, max_users: int = 600, epochs: int = 2, lr: float = 6e-3) -> dict:
    print(f"[demo] auction on {DATASET}: {rounds} federated rounds of {epochs} local epochs in process over {sites} sites "
          f"({max_users} of its users) ...", flush=True)
    history = train(workdir, sites, rounds, max_users, seed, epochs, lr)
    catalog = Catalog.load(workdir / "catalog")
    user, earlier, later = held_out_user(workdir, catalog)
    cands, next_categories, category = candidates_for(catalog, earlier, later, seed)
    address = f"127.0.0.1:{P.free_port()}"
    proc = P.start("serving.main", ["--listen", address, "--registry", str(workdir / "registry"), *serving_flags],
                   workdir / "serving.log")
    try:
        P.wait_healthy(address, client_transport, proc=proc)
        stub = serving_pb2_grpc.ServingServiceStub(channel(address, client_transport))
        request = spb.RankRequest(user_id=f"ub-{user}", candidates=cands, objective=spb.OBJECTIVE_ECPM_CPC)
        before = stub.Rank(request, timeout=10)
        recorded = stub.RecordEvents(iter([spb.BehaviorEvent(user_id=f"ub-{user}", ad_id=a, action="click")
                                           for a in earlier]), timeout=10).recorded
        after = stub.Rank(request, timeout=10)
    finally:
        P.stop([proc])
    hit = lambda p: category[p.ad_id] in next_categories  # noqa: E731
    mean_rank = lambda r: float(np.mean([i + 1 for i, p in enumerate(r.ranked) if hit(p)]))  # noqa: E731
    top10 = lambda r: sum(hit(p) for p in r.ranked[:10])  # noqa: E731
    n_hits = sum(category[c.ad_id] in next_categories for c in cands)
    print(f"[demo] held-out user {user} (never trained on): Rank by eCPM = bid × pCTR over {len(cands)} ads; "
          f"{n_hits} of them in the {len(next_categories)} categories the user clicked next (*)")
    for label, res in (("before any behaviour", before), (f"after RecordEvents of {recorded} earlier clicks", after)):
        print(f"[demo]   {label} (history {res.history_length}): top 5  [eCPM  bid×pCTR  category]")
        for p in res.ranked[:5]:
            bid = next(c.bid for c in cands if c.ad_id == p.ad_id)
            print(f"[demo]     {p.ecpm:7.2f}  {bid:.2f}×{p.p_ctr:.3f}  {category[p.ad_id]}{'  *' if hit(p) else ''}")
    moved_up = mean_rank(after) < mean_rank(before)
    print(f"[demo]   the next clicked categories {'moved up' if moved_up else 'did not move up'}: mean rank "
          f"{mean_rank(after):.1f} (was {mean_rank(before):.1f}), {top10(after)} in the top 10 (was {top10(before)})")
    return {"dataset": DATASET, "user": user, "rounds": [{"round": h["round"], "ad_auc": h.get("ad_auc")}
                                                         for h in history],
            "model_version": after.model_version, "catalog_version": after.catalog_version, "recorded": recorded,
            "candidates": len(cands), "next_category_candidates": n_hits, "moved_up": moved_up,
            "mean_rank": {"before": mean_rank(before), "after": mean_rank(after)},
            "in_top10": {"before": top10(before), "after": top10(after)}}
