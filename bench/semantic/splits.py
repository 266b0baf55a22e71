"""The splits of bench/semantic, written as event logs on disk (each site's events.parquet rewritten).

- cold: a seeded 10 % of the catalogue's ads are cold. Every interaction with a cold ad is removed from
  every site's log except each user's last one, and the user's interactions after it are removed too, so
  that the cold ad is the user's held-out (last) item, never trained on anywhere. Users without a cold
  interaction keep their log. Evaluation: cold = the last item of users whose last item is cold; warm =
  every user's second-to-last item (always a warm ad), both held out of training (holdout 2).
- domains: two disjoint item domains by MovieLens genre: "drama" = movies tagged Drama and not Comedy,
  "comedy" = tagged Comedy and not Drama (movies with both or neither are dropped). Sites 01-06 (zip
  regions) keep only their drama rows; sites 07-08 keep only their comedy rows: the data-scarce domain.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fedads.catalog.catalog import Catalog

COLD_SHARE = 0.10
DRAMA_SITES = ("site-01", "site-02", "site-03", "site-04", "site-05", "site-06")
COMEDY_SITES = ("site-07", "site-08")


def site_folders(root: Path) -> list[Path]:
    return sorted(p for p in (root / "sites").iterdir() if p.is_dir())


def _rewrite(site: Path, keep) -> None:
    path = site / "data" / "events.parquet"
    table = pq.read_table(path)
    pq.write_table(keep(table), path)


def cold_ads(catalog: Catalog, seed: int) -> np.ndarray:
    """Catalogue indices (1..n) of the cold ads: a seeded draw of COLD_SHARE of all ads."""
    rng = np.random.default_rng([seed, 0xC01D])
    n = catalog.n_ads
    return np.sort(rng.choice(np.arange(1, n + 1), size=int(round(COLD_SHARE * n)), replace=False))


def make_cold(root: Path, catalog: Catalog, seed: int) -> dict:
    cold = cold_ads(catalog, seed)
    cold_ids = pa.array(np.array(catalog.ad_ids())[cold - 1])
    removed, kept_cold = 0, 0

    def keep(t: pa.Table) -> pa.Table:
        nonlocal removed, kept_cold
        users = np.array(t.column("user_id").to_pylist())
        order = np.lexsort((np.arange(t.num_rows), t.column("timestamp").to_numpy(), users))
        t = t.take(pa.array(order))
        users = np.array(t.column("user_id").to_pylist())
        is_cold = pc.is_in(t.column("ad_id"), value_set=cold_ids).to_numpy(zero_copy_only=False)
        pos = np.arange(t.num_rows)
        mask = np.ones(t.num_rows, dtype=bool)
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        ends = np.r_[starts[1:], t.num_rows]
        for s, e in zip(starts, ends):
            c = pos[s:e][is_cold[s:e]]
            if len(c):
                last = c[-1]
                mask[s:e] = (~is_cold[s:e]) & (pos[s:e] < last)
                mask[last] = True
                kept_cold += 1
        removed += int((~mask).sum())
        return t.filter(pa.array(mask))

    for site in site_folders(root):
        _rewrite(site, keep)
    return {"cold_ads": int(len(cold)), "users_with_cold_test_item": kept_cold, "rows_removed": removed}


def genre_domains(catalog: Catalog) -> dict[str, np.ndarray]:
    """Catalogue indices of the drama and comedy domains (disjoint)."""
    genres = [set((g or "").split("|")) for g in catalog.ads.column("genres").to_pylist()]
    drama = np.array([i + 1 for i, g in enumerate(genres) if "Drama" in g and "Comedy" not in g])
    comedy = np.array([i + 1 for i, g in enumerate(genres) if "Comedy" in g and "Drama" not in g])
    return {"drama": drama, "comedy": comedy}


def make_domains(root: Path, catalog: Catalog) -> dict:
    domains = genre_domains(catalog)
    ids = np.array(catalog.ad_ids())
    rows = {}
    for site in site_folders(root):
        domain = "drama" if site.name in DRAMA_SITES else "comedy"
        allowed = pa.array(ids[domains[domain] - 1])
        _rewrite(site, lambda t: t.filter(pc.is_in(t.column("ad_id"), value_set=allowed)))
        rows[site.name] = (domain, pq.read_metadata(site / "data" / "events.parquet").num_rows)
    return {"domains": {k: int(len(v)) for k, v in domains.items()}, "site_rows": rows}
