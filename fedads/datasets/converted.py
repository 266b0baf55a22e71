"""What a converter produces, and how it becomes a catalogue plus one event-log folder per site."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from admodels.data.partition import by_natural_key, dirichlet, one_user_per_site
from fedads.catalog.build import build_catalog
from fedads.catalog.catalog import Catalog
from fedads.catalog.schema import ID_COLUMN, CatalogSchema
from fedads.eventlog.site_data import SiteData


@dataclass
class Converted:
    """One dataset in FedAds's data contract. `user_ids` are every user, in the dataset's own order; each
    `keys[name]` gives one natural partition key per user of `user_ids`."""
    name: str
    feed: pa.Table            # ad_id + declared features: the ad feed a catalogue is built from
    schema: CatalogSchema
    events: pa.Table          # the event log (fedads.eventlog.reader columns)
    user_ids: np.ndarray      # str
    keys: dict[str, np.ndarray]
    interaction_only: bool
    users: pa.Table | None = None  # private user features (user_id + columns), kept on the site
    user_feature_columns: tuple[str, ...] = ()  # the columns of users a model may read (private by default)
    public_user_features: dict = field(default_factory=dict)  # low-cardinality ones: column -> every value
    default_key: str = ""
    default_split: str = ""   # the split when none is given (default: the natural key default_key)
    dirichlet_key: str = ""   # the label dirichlet:ALPHA splits over when it names none (default: default_key)
    text_fields: tuple[str, ...] = ()  # public ad text a text encoder may embed (title, genres, ...)
    notes: list[str] = field(default_factory=list)


@dataclass
class SitePart:
    site_id: str
    folder: Path
    users: int
    rows: int


def choose_users(conv: Converted, max_users: int, seed: int) -> np.ndarray:
    """Users that have events, in the dataset's order; a seeded sample of max_users of them when set."""
    have = pc.is_in(pa.array(conv.user_ids), value_set=pc.unique(conv.events.column("user_id"))).to_numpy(
        zero_copy_only=False)
    users = conv.user_ids[have]
    if max_users and max_users < len(users):
        return users[np.sort(np.random.default_rng(seed).choice(len(users), max_users, replace=False))]
    # Every user, with events or not, as the natural-key partitions balanced them before event logs existed.
    return conv.user_ids


def split_users(conv: Converted, users: np.ndarray, n_sites: int, split_by: str, seed: int) -> list[np.ndarray]:
    """`KEY` (a natural key), `dirichlet:ALPHA[:KEY]` over a key, or `user` (one user per site)."""
    if split_by == "user":
        # A client per user with events: one without (ML-1M's users 3000-6040 offline) could neither train nor
        # be evaluated, and its client would fail the round.
        have = pc.is_in(pa.array(users), value_set=pc.unique(conv.events.column("user_id"))).to_numpy(
            zero_copy_only=False)
        return one_user_per_site(users[have])
    pos = {u: i for i, u in enumerate(conv.user_ids)}
    at = np.array([pos[u] for u in users], dtype=np.int64)
    if split_by.startswith("dirichlet:"):
        parts = split_by.split(":")
        try:
            alpha = float(parts[1])
        except ValueError:
            raise ValueError(f"--split-by {split_by!r}: dirichlet:ALPHA[:KEY] with a number ALPHA") from None
        key = parts[2] if len(parts) > 2 else conv.dirichlet_key or conv.default_key
        return [p for p in dirichlet(users, _key(conv, key)[at], n_sites, alpha, seed) if len(p)]
    return by_natural_key(users, _key(conv, split_by)[at], n_sites)


def _key(conv: Converted, name: str) -> np.ndarray:
    if name not in conv.keys:
        raise ValueError(f"{conv.name} has no partition key {name!r}; keys: {', '.join(conv.keys) or 'none'}, "
                         "or dirichlet:ALPHA[:KEY], or user")
    return conv.keys[name]


def catalog_of(conv: Converted, events: pa.Table, encoder=None) -> Catalog:
    """The catalogue of the ads the chosen users' events name, in feed order (MovieLens: by movie id); with a
    text encoder, their text fields embedded too."""
    named = pc.is_in(conv.feed.column(ID_COLUMN), value_set=pc.unique(events.column("ad_id")))
    schema = conv.schema
    if encoder is not None:
        if not conv.text_fields:
            raise ValueError(f"{conv.name} has no ad text to embed")
        schema = replace(schema, text_encoder=encoder.name, text_fields=conv.text_fields)
    return build_catalog(conv.feed.filter(named), schema, encoder=encoder)


def write_federation(conv: Converted, out: Path, n_sites: int, split_by: str = "", seed: int = 0,
                     max_users: int = 0, site_prefix: str = "site", encoder=None) -> tuple[Catalog, list[SitePart]]:
    """out/catalog (a built catalogue) and out/sites/<site>/data/ (events.parquet, users.parquet, data.toml)."""
    users = choose_users(conv, max_users, seed)
    col = conv.events.column("user_id")
    events = conv.events.filter(pc.is_in(col, value_set=pa.array(users)))
    catalog = catalog_of(conv, events, encoder).write(out / "catalog")
    parts = []
    for k, site_users in enumerate(split_users(conv, users, n_sites, split_by or conv.default_split or conv.default_key,
                                               seed)):
        site_id = f"{site_prefix}-{k + 1:02d}"
        folder = out / "sites" / site_id / "data"
        folder.mkdir(parents=True, exist_ok=True)
        mine = pa.array(site_users.astype(str))
        rows = events.filter(pc.is_in(events.column("user_id"), value_set=mine))
        pq.write_table(rows, folder / "events.parquet")
        users_file = ""
        if conv.users is not None:
            pq.write_table(conv.users.filter(pc.is_in(conv.users.column("user_id"), value_set=mine)),
                           folder / "users.parquet")
            users_file = "users.parquet"
        SiteData(folder / "events.parquet", folder / users_file if users_file else None,
                 conv.interaction_only, conv.name,
                 list(conv.user_feature_columns) if users_file else [],
                 dict(conv.public_user_features) if users_file else {}).write(folder / "data.toml")
        parts.append(SitePart(site_id, folder.parent, len(site_users), rows.num_rows))
    return catalog, parts
