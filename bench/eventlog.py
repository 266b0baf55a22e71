"""`client-agent check` and the event-log loader on a large synthetic log (same schema; speed only).

    python -m bench.eventlog --rows 10000000

Writes a synthetic catalogue and Parquet event log to a scratch folder, then, in a fresh process, times
reading (read_events), checking (check_events) and loading (SequenceData.from_events) and reports rows/s
and the peak resident memory added by the measured steps against the decoded table's size.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(folder: Path) -> dict:
    from admodels.data.sequences import SequenceData
    from fedads.catalog.catalog import Catalog
    from fedads.eventlog.check import check_events
    from fedads.eventlog.reader import read_events

    catalog = Catalog.load(folder / "catalog")
    base = _rss_mb()
    t0 = time.perf_counter()
    events = read_events(folder / "events.parquet")
    t1 = time.perf_counter()
    report = check_events(events, catalog, source="events.parquet")
    t2 = time.perf_counter()
    data = SequenceData.from_events(events, catalog, max_len=50)
    t3 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = events.num_rows
    return {"rows": rows, "decoded_mb": events.nbytes / 2 ** 20, "read_s": t1 - t0, "check_s": t2 - t1,
            "load_s": t3 - t2, "check_rows_per_s": rows / (t2 - t0), "load_rows_per_s": rows / (t3 - t2 + t1 - t0),
            "peak_added_mb": peak - base, "ok": report.ok, "clicked_rows": int(len(data.items))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench.eventlog", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--users", type=int, default=1_000_000)
    p.add_argument("--ads", type=int, default=100_000)
    p.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    import pyarrow.parquet as pq

    from fedads.datasets import synthetic

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        synthetic.catalog(folder / "catalog", args.ads)
        pq.write_table(synthetic.events(args.rows, args.users, args.ads), folder / "events.parquet")
        out = subprocess.run([sys.executable, "-m", "bench.eventlog", "--measure", str(folder)], capture_output=True,
                             text=True, check=True)
        r = json.loads(out.stdout)
    print(f"{r['rows']:,} rows ({r['decoded_mb']:.0f} MB decoded): read {r['read_s']:.2f} s, check {r['check_s']:.2f} s, "
          f"load {r['load_s']:.2f} s")
    print(f"check: {r['check_rows_per_s'] / 1e6:.2f} M rows/s (read + check); loader: "
          f"{r['load_rows_per_s'] / 1e6:.2f} M rows/s (read + sequences); peak memory added "
          f"{r['peak_added_mb']:.0f} MB = {r['peak_added_mb'] / r['decoded_mb']:.2f}x the decoded table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
