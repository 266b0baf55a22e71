"""From an event log to the arrays training reads: clicked rows by catalogue ad index and user key."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fedads.eventlog.keys import user_keys


def row_user_keys(user_ids: pa.Array) -> np.ndarray:
    enc = pc.dictionary_encode(user_ids)
    enc = enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc
    return user_keys(enc.dictionary)[enc.indices.to_numpy(zero_copy_only=False)]


def clicked_rows(events: pa.Table, catalog) -> dict[str, np.ndarray]:
    """The behaviour sequence's rows: clicked, naming an ad the catalogue holds."""
    item = catalog.ad_indices(events.column("ad_id"))
    keep = (events.column("click").to_numpy() == 1) & (item > 0)
    mask = pa.array(keep)
    return {"user_key": row_user_keys(events.column("user_id").filter(mask)), "item": item[keep],
            "timestamp": events.column("timestamp").to_numpy()[keep],
            "conversion": events.column("conversion").to_numpy()[keep].astype(np.float32),
            "value": events.column("value").to_numpy()[keep].astype(np.float32)}
