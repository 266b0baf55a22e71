"""Reading a site's event log (Parquet, or CSV with a header) into one typed pyarrow table.

Columns (the partner guide in the README documents them):
    user_id     string   the site's own user id (any string; never parsed as a number)
    ad_id       string   an ad id of the shared catalogue
    timestamp   integer unix seconds, or ISO 8601 (a value without a zone is read as UTC)
    click       0/1      0: an impression that was not clicked
    conversion  0/1      optional (0); 1 only where click = 1
    value       float    optional (0); the value of the row's conversion (revenue)
Errors name the 1-based data row (the CSV header is not counted).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

REQUIRED = ("user_id", "ad_id", "timestamp", "click")
OPTIONAL = {"conversion": 0, "value": 0.0}
COLUMNS = (*REQUIRED, *OPTIONAL)
_INT = r"^-?[0-9]+$"
_ZONE = r"(Z|[+-][0-9]{2}:?[0-9]{2})$"


class EventLogError(ValueError):
    pass


def _first_rows(mask: np.ndarray, n: int = 5) -> list[int]:
    return (np.flatnonzero(mask)[:n] + 1).tolist()


def _read_raw(path: Path, columns: tuple[str, ...]) -> pa.Table:
    if not path.exists():
        raise EventLogError(f"{path} does not exist")
    try:
        if path.suffix == ".parquet":
            return pq.read_table(path)
        with open(path, "rb") as fh:
            header = fh.readline().decode("utf-8", "replace").strip().split(",")
        types = {c: pa.string() for c in header}
        return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types=types,
                                                                        strings_can_be_null=False))
    except (pa.ArrowInvalid, OSError) as exc:
        raise EventLogError(f"{path}: {str(exc).splitlines()[0]}") from exc


def _as_string(col: pa.ChunkedArray, name: str, path: Path) -> pa.ChunkedArray:
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return col.cast(pa.string())
    if pa.types.is_integer(col.type):
        return pc.cast(col, pa.string())  # exact: integers are written out digit by digit
    if pa.types.is_dictionary(col.type):
        return _as_string(col.cast(col.type.value_type), name, path)
    raise EventLogError(f"{path}: column {name} must hold strings (or integers), not {col.type}: ids are never "
                        "read as floats")


def parse_timestamps(col: pa.ChunkedArray, path: Path) -> pa.Array:
    """Integer seconds or ISO 8601 strings → int64 unix seconds."""
    if pa.types.is_integer(col.type):
        return pc.cast(col, pa.int64()).combine_chunks()
    if pa.types.is_timestamp(col.type):
        return pc.cast(pc.cast(col, pa.timestamp("s", tz=col.type.tz)), pa.int64()).combine_chunks()
    col = _as_string(col, "timestamp", path).combine_chunks()
    try:
        return pc.cast(col, pa.int64())
    except pa.ArrowInvalid:
        pass
    out = np.zeros(len(col), dtype=np.int64)
    bad = np.zeros(len(col), dtype=bool)
    is_int = pc.fill_null(pc.match_substring_regex(col, _INT), False).to_numpy(zero_copy_only=False)
    has_zone = pc.fill_null(pc.match_substring_regex(col, _ZONE), False).to_numpy(zero_copy_only=False) & ~is_int
    for mask, typ in ((is_int, pa.int64()), (has_zone, pa.timestamp("s", tz="UTC")),
                      (~is_int & ~has_zone, pa.timestamp("s"))):
        idx = np.flatnonzero(mask)
        if not len(idx):
            continue
        part = col.take(pa.array(idx))
        try:
            out[idx] = pc.cast(pc.cast(part, typ), pa.int64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            for i, v in zip(idx, part.to_pylist()):
                try:
                    out[i] = pc.cast(pa.array([v]), typ).cast(pa.int64())[0].as_py()
                except pa.ArrowInvalid:
                    bad[i] = True
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise EventLogError(f"{path} row {first + 1}: bad timestamp {col[first].as_py()!r} (integer unix seconds or "
                            f"ISO 8601); {int(bad.sum())} row(s) in all, first rows {_first_rows(bad)}")
    return pa.array(out)


def _flag(col: pa.ChunkedArray, name: str, path: Path) -> pa.Array:
    if pa.types.is_integer(col.type) or pa.types.is_boolean(col.type):
        values = pc.cast(col, pa.int64()).combine_chunks()
    else:
        s = _as_string(col, name, path).combine_chunks()
        ok = pc.fill_null(pc.is_in(s, value_set=pa.array(["0", "1"])), False).to_numpy(zero_copy_only=False)
        if not ok.all():
            first = int(np.flatnonzero(~ok)[0])
            raise EventLogError(f"{path} row {first + 1}: {name} must be 0 or 1, not {s[first].as_py()!r}; "
                                f"{int((~ok).sum())} row(s) in all")
        values = pc.cast(s, pa.int64())
    arr = values.to_numpy(zero_copy_only=False)
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise EventLogError(f"{path} row {first + 1}: {name} must be 0 or 1, not {arr[first]}")
    return pa.array(arr.astype(np.int8))


def _value(col: pa.ChunkedArray, path: Path) -> pa.Array:
    if pa.types.is_string(col.type):
        s = col.combine_chunks()
        s = pc.if_else(pc.equal(s, ""), "0", s)
        try:
            col = pc.cast(s, pa.float64())
        except pa.ArrowInvalid as exc:
            raise EventLogError(f"{path}: value must be a number: {str(exc).splitlines()[0]}") from exc
    arr = pc.fill_null(pc.cast(col, pa.float64()), 0.0).to_numpy(zero_copy_only=False)
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise EventLogError(f"{path} row {first + 1}: value must be a finite number ≥ 0, not {arr[first]}")
    return pa.array(arr)


def read_events(path: str | Path) -> pa.Table:
    path = Path(path)
    raw = _read_raw(path, COLUMNS)
    missing = [c for c in REQUIRED if c not in raw.column_names]
    if missing:
        raise EventLogError(f"{path}: missing column(s) {', '.join(missing)}; an event log has the header "
                            f"{','.join(COLUMNS)} (conversion and value optional)")
    n = raw.num_rows
    cols = {}
    # Column by column, each raw column dropped once converted: the peak holds one column twice, not the table.
    for name in ("user_id", "ad_id"):
        col = _as_string(raw.column(name), name, path)
        empty = pc.fill_null(pc.equal(pc.utf8_length(col), 0), True).to_numpy(zero_copy_only=False)
        if empty.any():
            raise EventLogError(f"{path} row {_first_rows(empty)[0]}: empty {name}; {int(empty.sum())} row(s) in all")
        cols[name] = col
        raw = raw.drop_columns([name])
    cols["timestamp"] = parse_timestamps(raw.column("timestamp"), path)
    raw = raw.drop_columns(["timestamp"])
    cols["click"] = _flag(raw.column("click"), "click", path)
    cols["conversion"] = (_flag(raw.column("conversion"), "conversion", path) if "conversion" in raw.column_names
                          else pa.array(np.zeros(n, np.int8)))
    cols["value"] = _value(raw.column("value"), path) if "value" in raw.column_names else pa.array(np.zeros(n))
    return pa.table(cols)


def read_user_features(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """The site's optional user-features table: user_id plus declared columns, all read as strings."""
    path = Path(path)
    raw = _read_raw(path, ("user_id",))
    wanted = ["user_id", *(columns if columns is not None else [c for c in raw.column_names if c != "user_id"])]
    missing = [c for c in wanted if c not in raw.column_names]
    if missing:
        raise EventLogError(f"{path}: missing user-feature column(s) {', '.join(missing)}")
    out = {c: _as_string(raw.column(c), c, path).combine_chunks() if c == "user_id" else
           pc.cast(raw.column(c), pa.string()).combine_chunks() for c in wanted}
    ids = out["user_id"]
    if pc.count_distinct(ids).as_py() != len(ids):
        raise EventLogError(f"{path}: a user_id appears more than once in the user-features table")
    return pa.table(out)
