"""Impression-level data (logs with unclicked impressions, `interaction_only = false`), split by time.

Every impression, clicked or not, is a training record: its history is the user's clicks strictly
before it, its one candidate is the impression's ad, its labels the click, the conversion and the
value. No negatives are sampled. Split (as the BARS TaobaoAd protocol does): the last day is the test
split, the day before it the validation split, earlier days train. A log spanning fewer than three days
(e.g. a sample whose row order stands for time) is split by time order instead: the last 10 % test, the
10 % before validation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fedads.eventlog.sequences import row_user_keys

DAY = 86_400
TAIL_FRACTION = 0.1  # fallback split: the share of impressions in each of validation and test


@dataclass
class ImpressionData:
    user_keys: np.ndarray   # int64 key of each local user (clicked or not)
    user: np.ndarray        # local user of each impression, impressions sorted by (time, row)
    item: np.ndarray        # catalogue ad index of each impression
    click: np.ndarray       # float32 0/1
    conversion: np.ndarray  # float32 0/1
    value: np.ndarray       # float32: value / the catalogue's value_scale
    history_end: np.ndarray  # index into click_items: the end of the user's clicks before the impression
    click_items: np.ndarray  # every click's ad, sorted by (user, time)
    click_starts: np.ndarray  # per local user: its clicks are click_items[click_starts[u]:click_ends[u]]
    click_ends: np.ndarray
    split: np.ndarray        # int8 per impression: 0 train, 1 validation, 2 test
    n_items: int
    max_len: int
    split_rule: str = "days"

    SPLITS = {"train": 0, "validation": 1, "test": 2}

    @classmethod
    def from_events(cls, events, catalog, max_len: int) -> "ImpressionData":
        item = catalog.ad_indices(events.column("ad_id"))
        keep = item > 0  # rows naming ads the catalogue does not hold are skipped (check counts them)
        keys_all = row_user_keys(events.column("user_id"))[keep]
        ts = events.column("timestamp").to_numpy()[keep].astype(np.int64)
        click = events.column("click").to_numpy()[keep].astype(np.float32)
        conv = events.column("conversion").to_numpy()[keep].astype(np.float32)
        value = events.column("value").to_numpy()[keep].astype(np.float32) / np.float32(catalog.schema.value_scale)
        item = item[keep]
        if len(item) == 0:
            raise ValueError("no impressions of catalogue ads")
        user_keys, user = np.unique(keys_all, return_inverse=True)
        order = np.lexsort((np.arange(len(ts)), ts))
        user, item, ts, click, conv, value = (a[order] for a in (user, item, ts, click, conv, value))
        # Clicks by (user, time); an impression's history: its user's clicks at an earlier time.
        c = np.flatnonzero(click == 1)
        c = c[np.lexsort((c, ts[c], user[c]))]
        click_items, click_user, click_ts = item[c], user[c], ts[c]
        counts = np.bincount(click_user, minlength=len(user_keys))
        ends = np.cumsum(counts)
        starts = ends - counts
        _, t_rank = np.unique(np.concatenate([click_ts, ts]), return_inverse=True)
        n_t = int(t_rank.max()) + 1
        click_key = click_user.astype(np.int64) * n_t + t_rank[:len(c)]
        imp_key = user.astype(np.int64) * n_t + t_rank[len(c):]
        history_end = np.searchsorted(click_key, imp_key, side="left")
        split, rule = _time_split(ts)
        return cls(user_keys, user, item, click, conv, value, history_end, click_items, starts, ends, split,
                   int(catalog.n_ads), int(max_len), rule)

    @property
    def n_users(self) -> int:
        return len(self.user_keys)

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == self.SPLITS[split])

    def train_targets(self) -> np.ndarray:
        return self.indices("train")

    def user_of(self, index: np.ndarray) -> np.ndarray:
        return self.user[index]

    def _histories(self, users: np.ndarray, end: np.ndarray) -> np.ndarray:
        idx = end[:, None] - self.max_len + np.arange(self.max_len)[None, :]
        valid = idx >= self.click_starts[users][:, None]
        if len(self.click_items) == 0:
            return np.zeros(idx.shape, dtype=np.int64)
        return np.where(valid, self.click_items[np.clip(idx, 0, len(self.click_items) - 1)], 0)

    def histories(self, index: np.ndarray) -> np.ndarray:
        """(N, max_len) the user's clicks before each impression, left-padded with 0."""
        return self._histories(self.user[index], self.history_end[index])

    def latest_histories(self) -> np.ndarray:
        users = np.arange(self.n_users)
        return self._histories(users, self.click_ends)

    def batch(self, idx: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
        """(histories, users, candidates (B, 1): the impression's ad, labels (B, 3): click, conversion, value)."""
        seq = torch.from_numpy(self.histories(idx)).to(device)
        users = torch.from_numpy(self.user[idx]).to(device)
        cands = torch.from_numpy(self.item[idx][:, None]).to(device)
        labels = torch.from_numpy(np.stack([self.click[idx], self.conversion[idx], self.value[idx]], 1)).to(device)
        return seq, users, cands, labels


def _time_split(ts: np.ndarray) -> tuple[np.ndarray, str]:
    """ts sorted ascending → split per impression and the rule used."""
    day = ts // DAY
    days = np.unique(day)
    split = np.zeros(len(ts), dtype=np.int8)
    if len(days) >= 3:
        split[day == days[-2]] = 1
        split[day == days[-1]] = 2
        return split, "days"
    n = len(ts)
    tail = max(int(round(n * TAIL_FRACTION)), 1)
    split[n - 2 * tail:n - tail] = 1
    split[n - tail:] = 2
    return split, "time order (fewer than 3 days)"
