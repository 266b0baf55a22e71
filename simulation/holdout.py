"""Which item a simulation evaluates on: each user's last (the test) or second-to-last (validation).

Leave-one-out holds out each user's last behaviour-sequence interaction. For a validation run every
site's event log is rewritten without each user's last clicked row before any client reads it, so
the same leave-one-out code holds out the second-to-last item and trains on what came before it;
the test item is then never read, by training or by evaluation. Schedules are chosen on validation
runs and the chosen one is rerun on the test split for the reported figure.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fedads.eventlog.reader import read_events
from fedads.eventlog.site_data import SiteData

HOLDOUTS = ("test", "validation")


def check_holdout(holdout: str) -> None:
    if holdout not in HOLDOUTS:
        raise ValueError(f"unknown holdout {holdout!r}: test (each user's last item) or validation (second-to-last)")


def held_out_rows(events: pa.Table) -> np.ndarray:
    """Row index of each user's last clicked row, in the order SequenceData sorts a user's rows
    (timestamp, then row order: of two rows at one time the later is last), for users with two or more
    clicked rows (leave-one-out evaluates only those; a one-row user keeps its row)."""
    clicked = np.flatnonzero(events.column("click").to_numpy() == 1)
    if not len(clicked):
        return clicked
    users = pc.dictionary_encode(events.column("user_id").take(pa.array(clicked))).combine_chunks().indices
    users = users.to_numpy(zero_copy_only=False)
    ts = events.column("timestamp").to_numpy()[clicked]
    order = np.lexsort((clicked, ts, users))
    sorted_users = users[order]
    last = np.r_[sorted_users[1:] != sorted_users[:-1], True]   # the final row of each user's run
    first = np.r_[True, sorted_users[1:] != sorted_users[:-1]]
    return clicked[order[last & ~first]]                         # a run of one row is both


def drop_test_items(data_folder: Path) -> int:
    """Rewrite the site's event log without each user's test row (held_out_rows); returns the rows dropped."""
    site = SiteData.load(data_folder)
    if site.events.suffix != ".parquet":
        raise ValueError(f"{site.events}: the validation holdout rewrites Parquet event logs only")
    drop = held_out_rows(read_events(site.events))
    raw = pq.read_table(site.events)  # the columns as written; read_events keeps every row, in order
    keep = np.ones(raw.num_rows, dtype=bool)
    keep[drop] = False
    pq.write_table(raw.filter(pa.array(keep)), site.events)
    return int(len(drop))
