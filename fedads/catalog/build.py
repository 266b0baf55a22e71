"""Building a catalogue version from an ad feed, optionally as the successor of an older version.

Growth keeps every existing ad at its index and every vocabulary value at its index: new ads are
appended in feed order, new values in first-seen order. Ads missing from a new feed stay (a catalogue
only grows); an existing ad's feature values are taken from the new feed.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from fedads.catalog.catalog import Catalog, CatalogError, index_column
from fedads.catalog.schema import FIRST_INDEX, ID_COLUMN, MAX_VALUES_PER_AD, UNKNOWN, CatalogSchema

QUANTILES = 10  # numeric features: bucket boundaries at the deciles


def read_feed(path: str | Path, schema: CatalogSchema) -> pa.Table:
    """The ad feed (Parquet or CSV with a header): ad_id and the declared feature columns."""
    path = Path(path)
    if not path.exists():
        raise CatalogError(f"ad feed {path} does not exist")
    wanted = {ID_COLUMN: pa.string()}
    for f in schema.features:
        wanted[f.name] = pa.float64() if f.kind == "numeric" else pa.string()
    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
        else:
            table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types=wanted,
                                                                            strings_can_be_null=True))
    except (pa.ArrowInvalid, OSError) as exc:
        raise CatalogError(f"ad feed {path}: {str(exc).splitlines()[0]}") from exc
    missing = [c for c in wanted if c not in table.column_names]
    if missing:
        raise CatalogError(f"ad feed {path}: missing column(s) {', '.join(missing)} "
                           f"(has {', '.join(table.column_names)})")
    cols = {}
    for name, typ in wanted.items():
        col = table.column(name)
        if col.type != typ:
            if name == ID_COLUMN and pa.types.is_floating(col.type):
                raise CatalogError(f"ad feed {path}: ad_id is a float column; write ad ids as strings or integers")
            col = pc.cast(col, typ)
        cols[name] = col
    return pa.table(cols)


def _check_ids(ids: list) -> None:
    bad = [i + 1 for i, a in enumerate(ids) if a is None or a == ""]
    if bad:
        raise CatalogError(f"ad feed: empty ad_id in row(s) {bad[:5]}")
    seen: dict[str, int] = {}
    dups = []
    for row, a in enumerate(ids, 1):
        if a in seen:
            dups.append(f"{a!r} (rows {seen[a]} and {row})")
        else:
            seen[a] = row
    if dups:
        raise CatalogError(f"ad feed: duplicate ad_id {', '.join(dups[:5])}" + (" ..." if len(dups) > 5 else ""))


def _split(raw, separator: str) -> list[str]:
    if raw is None or raw == "":
        return []
    if not separator:
        return [raw]
    return [v for v in raw.split(separator) if v][:MAX_VALUES_PER_AD]


def ad_texts(rows: dict, schema: CatalogSchema) -> list[str]:
    """The text an ad is embedded from: its text fields' values joined (multi-values by commas)."""
    specs = {f.name: f for f in schema.features}
    cols = []
    for name in schema.effective_text_fields():
        sep = specs[name].separator
        cols.append([("" if v is None else str(v)).replace(sep, ", ") if sep else ("" if v is None else str(v))
                     for v in rows[name]])
    return [" | ".join(v for v in parts if v) for parts in zip(*cols)]


def _semantic(rows: dict, schema: CatalogSchema, parent: Catalog | None, encoder) -> tuple[np.ndarray | None, dict]:
    if not schema.text_encoder:
        return None, {}
    if encoder is None:
        raise CatalogError(f"the schema embeds ad text with {schema.text_encoder!r}: pass a text encoder")
    if encoder.name != schema.text_encoder:
        raise CatalogError(f"the schema names text encoder {schema.text_encoder!r}, not {encoder.name!r}")
    texts = ad_texts(rows, schema)
    vectors = np.zeros((len(texts) + 1, encoder.dim), np.float32)
    todo = list(range(len(texts)))
    if parent is not None:
        held = parent.text_encoder or {}
        if held.get("sha256") != encoder.sha256:
            raise CatalogError(f"catalogue version {parent.version} was embedded by {held.get('name')} "
                               f"({str(held.get('sha256'))[:12]}), not by this encoder ({encoder.sha256[:12]}); "
                               "one catalogue never mixes encoders")
        old_texts = ad_texts({f: parent.ads.column(f).to_pylist() for f in schema.effective_text_fields()}, schema)
        same = [i for i, t in enumerate(old_texts) if texts[i] == t]
        vectors[np.array(same, dtype=np.int64) + 1] = parent.semantic[np.array(same, dtype=np.int64) + 1]
        kept = set(same)
        todo = [i for i in todo if i not in kept]
    if todo:
        vectors[np.array(todo) + 1] = encoder.encode([texts[i] for i in todo])
    return vectors, encoder.identity()


def build_catalog(feed: pa.Table, schema: CatalogSchema, parent: Catalog | None = None, encoder=None) -> Catalog:
    """encoder: a SentenceEncoder (fedads.catalog.text_encoder) when the schema embeds ad text."""
    ids = feed.column(ID_COLUMN).to_pylist()
    _check_ids(ids)
    if parent is not None and parent.schema.to_dict() != schema.to_dict():
        raise CatalogError("the new schema differs from the parent catalogue's; a catalogue grows with the schema "
                           "it was created with")
    raw = {f.name: feed.column(f.name).to_pylist() for f in schema.features}
    if parent is None:
        order_ids, rows = ids, {f.name: raw[f.name] for f in schema.features}
    else:
        old_ids = parent.ad_ids()
        new_pos = {a: i for i, a in enumerate(ids)}
        added = [a for a in ids if a not in parent.lookup()]
        order_ids = old_ids + added
        rows = {}
        for f in schema.features:
            old = parent.ads.column(f.name).to_pylist()
            col = [raw[f.name][new_pos[a]] if a in new_pos else old[i] for i, a in enumerate(old_ids)]
            rows[f.name] = col + [raw[f.name][new_pos[a]] for a in added]
    vocab = {f.name: list(parent.vocab[f.name]) if parent else [] for f in schema.of_kind("categorical")}
    columns: dict[str, pa.Array] = {ID_COLUMN: pa.array(order_ids, pa.string())}
    stats = {}
    for f in schema.features:
        values = rows[f.name]
        if f.kind == "categorical":
            index = {v: i + FIRST_INDEX for i, v in enumerate(vocab[f.name])}
            codes = []
            for v in values:
                parts = _split(v, f.separator)
                for p in parts:
                    if p not in index:
                        index[p] = len(vocab[f.name]) + FIRST_INDEX
                        vocab[f.name].append(p)
                codes.append([index[p] for p in parts])
            columns[f.name] = pa.array(values, pa.string())
            if f.multi:
                columns[index_column(f.name)] = pa.array(codes, pa.list_(pa.int32()))
            else:
                columns[index_column(f.name)] = pa.array([c[0] if c else UNKNOWN for c in codes], pa.int32())
        elif f.kind == "numeric":
            arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            finite = arr[np.isfinite(arr)]
            stats[f.name] = _numeric_stats(finite)
            columns[f.name] = pa.array(arr, pa.float64())
        else:
            columns[f.name] = pa.array(values, pa.string())
    semantic, encoder_identity = _semantic(rows, schema, parent, encoder)
    manifest = {"version": parent.version + 1 if parent else 1, "parent_version": parent.version if parent else 0,
                "parent_sha256": parent.sha256 if parent else "", "schema": schema.to_dict(),
                "numeric_stats": stats, "added_ads": len(order_ids) - (parent.n_ads if parent else 0)}
    if encoder_identity:
        manifest["text_encoder"] = encoder_identity
    return Catalog(manifest, pa.table(columns), vocab, semantic=semantic)


def _numeric_stats(x: np.ndarray) -> dict:
    if len(x) == 0:
        return {"count": 0, "mean": 0.0, "std": 1.0, "min": 0.0, "max": 0.0, "boundaries": []}
    std = float(x.std())
    bounds = np.unique(np.quantile(x, np.arange(1, QUANTILES) / QUANTILES)).tolist()
    return {"count": int(len(x)), "mean": float(x.mean()), "std": std if std > 0 and math.isfinite(std) else 1.0,
            "min": float(x.min()), "max": float(x.max()), "boundaries": bounds}
