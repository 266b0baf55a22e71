"""`client-agent check`: the site's event log against the catalogue, before the site goes online."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fedads.catalog.catalog import Catalog

MAX_UNKNOWN_SHARE = 0.01  # more unknown-ad rows than this and the log is refused
SHOW = 5


@dataclass
class CheckReport:
    source: str
    rows: int = 0
    users: int = 0
    clicks: int = 0
    conversions: int = 0
    first_timestamp: int = 0
    last_timestamp: int = 0
    unknown_ad_rows: int = 0
    catalog_version: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def unknown_ad_share(self) -> float:
        return self.unknown_ad_rows / self.rows if self.rows else 0.0

    def counts(self) -> dict:
        iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
        return {"source": self.source, "catalog_version": self.catalog_version, "rows": self.rows,
                "users": self.users, "impressions": self.rows, "clicks": self.clicks,
                "conversions": self.conversions,
                "time_range": [iso(self.first_timestamp), iso(self.last_timestamp)] if self.rows else [],
                "unknown_ad_share": round(self.unknown_ad_share, 6), "ok": self.ok,
                "errors": self.errors, "warnings": self.warnings}


def _rows(mask: np.ndarray) -> list[int]:
    return (np.flatnonzero(mask)[:SHOW] + 1).tolist()


def check_events(events: pa.Table, catalog: Catalog, *, interaction_only: bool = False,
                 max_unknown_share: float = MAX_UNKNOWN_SHARE, source: str = "events") -> CheckReport:
    """Counts and every refusal (row-numbered, one line each) of an event log read by `read_events`."""
    rep = CheckReport(source, rows=events.num_rows, catalog_version=catalog.version)
    if not events.num_rows:
        rep.errors.append(f"{source}: the event log has no rows")
        return rep
    click = events.column("click").to_numpy()
    conv = events.column("conversion").to_numpy()
    ts = events.column("timestamp").to_numpy()
    users = pc.dictionary_encode(events.column("user_id")).combine_chunks()
    rep.users = len(users.dictionary)
    rep.clicks, rep.conversions = int(click.sum()), int(conv.sum())
    rep.first_timestamp, rep.last_timestamp = int(ts.min()), int(ts.max())
    orphan = (conv == 1) & (click == 0)
    if orphan.any():
        rep.errors.append(f"{source} row {_rows(orphan)[0]}: conversion = 1 without a click; {int(orphan.sum())} "
                          f"row(s) in all, first rows {_rows(orphan)}")
    if interaction_only and (click == 0).any():
        rep.errors.append(f"{source} row {_rows(click == 0)[0]}: click = 0 in a log declared interaction_only "
                          f"(interaction-only logs hold clicked rows only); {int((click == 0).sum())} row(s) in all")
    ads = catalog.ad_indices(events.column("ad_id"))
    unknown = ads == 0
    rep.unknown_ad_rows = int(unknown.sum())
    if rep.unknown_ad_rows:
        idx = np.flatnonzero(unknown)[:SHOW]
        shown = ", ".join(f"{events.column('ad_id')[int(i)].as_py()!r} (row {i + 1})" for i in idx)
        line = (f"{source}: {rep.unknown_ad_rows} row(s) ({rep.unknown_ad_share:.2%}) name ads that catalogue version "
                f"{catalog.version} does not hold: {shown}")
        if rep.unknown_ad_share > max_unknown_share:
            rep.errors.append(f"{line}; more than {max_unknown_share:.2%} is refused")
        else:
            rep.warnings.append(f"{line}; those rows are skipped in training")
    if rep.unknown_ad_rows:  # unknown ads share index 0: tell them apart by their own strings
        ad_codes = pc.dictionary_encode(events.column("ad_id")).combine_chunks().indices.to_numpy()
    else:
        ad_codes = ads
    u = users.indices.to_numpy()
    # A 64-bit mix of each row's (user, ad, timestamp, click): equal rows give equal hashes, so distinct sorted
    # hashes prove there are no duplicates; only when two collide are the rows compared exactly.
    mixed = u.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    mixed ^= ad_codes.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
    mixed ^= ts.astype(np.uint64) * np.uint64(0x165667B19E3779F9) + click.astype(np.uint64)
    mixed.sort()
    if (mixed[1:] == mixed[:-1]).any():
        order = np.lexsort((click, ts, ad_codes, u))
        same = np.r_[False, (u[order][1:] == u[order][:-1]) & (ad_codes[order][1:] == ad_codes[order][:-1])
                     & (ts[order][1:] == ts[order][:-1]) & (click[order][1:] == click[order][:-1])]
        if same.any():
            dup_rows = np.sort(order[same])[:SHOW] + 1
            rep.errors.append(f"{source} row {dup_rows[0]}: duplicate row (same user_id, ad_id, timestamp, click as "
                              f"an earlier row); {int(same.sum())} duplicate(s) in all, first rows {dup_rows.tolist()}")
    return rep
