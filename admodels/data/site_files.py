"""The interaction file a partner site keeps on its own disk.

CSV with the header `user_id,item_id,timestamp,rating`: user ids are the site's own,
item ids index the shared catalogue (1..n_items) the global model is built on.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

HEADER = "user_id,item_id,timestamp,rating"


def write_site_file(path: Path, user, item, timestamp, rating) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = np.column_stack([np.asarray(user, np.int64), np.asarray(item, np.int64),
                             np.asarray(timestamp, np.int64), np.asarray(rating, np.float64)])
    np.savetxt(path, table, fmt=["%d", "%d", "%d", "%g"], delimiter=",", header=HEADER, comments="")


def read_site_file(path: Path) -> dict[str, np.ndarray]:
    path = Path(path)
    with open(path) as fh:
        header = fh.readline().strip()
        if header != HEADER:
            raise ValueError(f"{path}: expected header {HEADER!r}, found {header!r}")
        raw = fh.read()
    values = np.array(raw.replace(",", " ").split(), dtype=np.float64)
    if values.size % 4:
        raise ValueError(f"{path}: every row needs 4 comma-separated values")
    table = values.reshape(-1, 4)
    return {"user": table[:, 0].astype(np.int64), "item": table[:, 1].astype(np.int64),
            "timestamp": table[:, 2].astype(np.int64), "rating": table[:, 3].astype(np.float32)}
