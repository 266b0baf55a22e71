"""Behaviour sequences and leave-one-out examples, built with array arithmetic (no per-row Python)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedads.eventlog.keys import seed_word

CONVERSION_RATING = 4.0  # MovieLens: a rating ≥ 4 counts as a conversion of the interaction


@dataclass
class SequenceData:
    """A set of users' time-ordered interactions, split leave-one-out.

    items and labels are sorted by (user, time); starts[u]..ends[u] is local user u's slice and the
    last interaction of each user is held out for evaluation.
    """
    user_keys: np.ndarray   # int64 key of each local user (fedads.eventlog.keys; seeds the evaluation negatives)
    items: np.ndarray       # int64, catalogue ad indices 1..n_items
    conversions: np.ndarray  # float32 0/1: the interaction converted
    values: np.ndarray      # float32: the value head's target, value / the catalogue's value_scale
    starts: np.ndarray
    ends: np.ndarray        # exclusive
    n_items: int
    max_len: int
    # Interactions held out at each user's end: 1, the last for test (leave-one-out); 2, also the
    # second-to-last as the validation split on which schedules and early stopping are chosen.
    holdout: int = 1

    @classmethod
    def from_labels(cls, user_key, item, timestamp, conversion, value, n_items: int, max_len: int) -> "SequenceData":
        user_key, item = np.asarray(user_key, np.int64), np.asarray(item, np.int64)
        if len(user_key) == 0:
            raise ValueError("no interactions")
        if item.min() < 1 or item.max() > n_items:
            raise ValueError(f"item ids must lie in 1..{n_items}; found {item.min()}..{item.max()}")
        order = np.lexsort((np.arange(len(user_key)), timestamp, user_key))
        keys, local = np.unique(user_key[order], return_inverse=True)
        counts = np.bincount(local, minlength=len(keys))
        ends = np.cumsum(counts)
        return cls(keys, item[order], np.asarray(conversion)[order].astype(np.float32),
                   np.asarray(value)[order].astype(np.float32), ends - counts, ends, int(n_items), int(max_len))

    @classmethod
    def from_arrays(cls, user, item, timestamp, rating, n_items: int, max_len: int) -> "SequenceData":
        """Rating-style arrays (MovieLens): a rating ≥ 4 converts, the value head regresses rating / 5."""
        rating = np.asarray(rating, np.float32)
        return cls.from_labels(user, item, timestamp, rating >= CONVERSION_RATING, rating / np.float32(5.0),
                               n_items, max_len)

    @classmethod
    def from_events(cls, events, catalog, max_len: int) -> "SequenceData":
        """The behaviour sequences of an event log (fedads.eventlog.read_events): its clicked rows, by the
        catalogue's ad indices; rows naming ads the catalogue does not hold are left out (check counts them)."""
        from fedads.eventlog.sequences import clicked_rows

        rows = clicked_rows(events, catalog)
        return cls.from_labels(rows["user_key"], rows["item"], rows["timestamp"], rows["conversion"],
                               rows["value"] / np.float32(catalog.schema.value_scale), catalog.n_ads, max_len)

    @property
    def n_users(self) -> int:
        return len(self.user_keys)

    def with_validation(self) -> "SequenceData":
        """The same data with each user's second-to-last interaction held out for validation too."""
        from dataclasses import replace

        return replace(self, holdout=2)

    def train_targets(self) -> np.ndarray:
        """Indices of training targets: every interaction but each user's first and the held-out ones."""
        mask = np.ones(len(self.items), dtype=bool)
        mask[self.starts] = False
        for back in range(1, self.holdout + 1):
            mask[np.maximum(self.ends - back, self.starts)] = False
        return np.flatnonzero(mask)

    def latest_histories(self) -> np.ndarray:
        """Each user's most recent behaviour (what the site's interest embedding summarises)."""
        return self.histories(self.ends - 1)

    def user_of(self, index: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.ends, index, side="right")

    def histories(self, target_index: np.ndarray) -> np.ndarray:
        """(N, max_len) items strictly before each target of the same user, left-padded with 0."""
        users = self.user_of(target_index)
        idx = target_index[:, None] - self.max_len + np.arange(self.max_len)[None, :]
        valid = idx >= self.starts[users][:, None]
        return np.where(valid, self.items[np.clip(idx, 0, None)], 0)

    def eval_examples(self, negatives: int = 99, seed: int = 0,
                      split: str = "test") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Leave-one-out: (users, histories, candidates) with the held-out item in column 0. split "test":
        each user's last interaction; "validation" (holdout 2 only): the second-to-last.

        Negatives are items the user never interacted with, drawn from a generator seeded by
        (seed, user key) (and the split, for validation), so every model sees the same candidates.
        """
        back = {"test": 1, "validation": 2}[split]
        if back > self.holdout:
            raise ValueError("this data holds out no validation split (SequenceData.with_validation)")
        users = np.flatnonzero(self.ends - self.starts >= back + 1)
        targets = self.ends[users] - back
        cands = np.zeros((len(users), negatives + 1), dtype=np.int64)
        cands[:, 0] = self.items[targets]
        for row, u in enumerate(users):
            seen = self.items[self.starts[u]:self.ends[u]]
            words = [seed, seed_word(self.user_keys[u])] + ([back] if back > 1 else [])
            rng = np.random.default_rng(words)
            chosen = np.empty(0, dtype=np.int64)
            while len(chosen) < negatives:
                draw = rng.integers(1, self.n_items + 1, size=2 * negatives)
                draw = draw[~np.isin(draw, seen)]
                chosen = np.concatenate([chosen, draw[~np.isin(draw, chosen)]])
                _, first = np.unique(chosen, return_index=True)
                chosen = chosen[np.sort(first)]
            cands[row, 1:] = chosen[:negatives]
        return users, self.histories(targets), cands
