"""bench/secagg: cost of SecAgg+ per site and at the aggregator, against plain aggregation.

For each n (sites) and d (update length) one full round runs in process with the same client and
server classes the services use: per-site key setup and masking time, the aggregator's unmasking
time and peak memory, and bytes per site, beside the cost of serialising the plain update into
upload chunks and summing plain vectors. With --flower, Flower's SecAgg+ primitives (installed in a
separate environment, see --flower-python) mask the same n and d for comparison.
Writes reports/secagg.md and reports/secagg.json. Run: `.venv/bin/python -m bench.secagg`.
With --dropouts (bench/secagg_dropouts.py): recovery and unmasking time under random and contiguous
dropouts, n paired with d in order (`--dropouts --n 100,1000 --d 100000`), written to
secagg_dropouts.md/json in --out.
"""
from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from bench.secagg_dropouts import markdown, run_dropouts
from client_agent.agent import upload_stream
from privacy.secagg.client import SecAggClient
from privacy.secagg.config import SecAggConfig
from privacy.secagg.keys import new_identity_key, public_bytes
from privacy.secagg.server import SecAggServer

FLOWER_SCRIPT = Path(__file__).with_name("flower_masking.py")


def run_case(n: int, d: int, drop: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    vectors = {f"site-{i:03d}": rng.normal(size=d).astype(np.float32) for i in range(n)}
    config = SecAggConfig(1, tuple(vectors))
    ids = {s: new_identity_key() for s in config.participants}
    pks = {s: public_bytes(k) for s, k in ids.items()}
    clients = {s: SecAggClient(config, s, ids[s], pks) for s in config.participants}
    server = SecAggServer(config, d)
    setup_s, key_bytes = {}, {}
    for s, c in clients.items():
        t = time.perf_counter()
        adv = c.advertise()
        setup_s[s] = time.perf_counter() - t
        key_bytes[s] = len(adv.c_pk + adv.s_pk + adv.b_commitment + adv.signature)
        server.receive_advert(adv)
    for s, c in clients.items():
        t = time.perf_counter()
        shares = c.share_keys(server.adverts_for(s))
        setup_s[s] += time.perf_counter() - t
        key_bytes[s] += sum(len(x.ciphertext) for x in shares)
        server.receive_shares(s, shares)
    for s, c in clients.items():
        t = time.perf_counter()
        c.receive_shares(server.shares_for(s))
        setup_s[s] += time.perf_counter() - t
    dropped = set(sorted(vectors)[:drop])
    mask_s, upload_bytes = [], 0
    for s, c in clients.items():
        if s in dropped:
            continue
        t = time.perf_counter()
        wire = config.encoding.pack(c.mask(vectors[s], rng))
        mask_s.append(time.perf_counter() - t)
        upload_bytes = len(wire)
        server.receive_masked(s, config.encoding.unpack(wire))
    survivors = server.survivors()
    for s, c in clients.items():
        if s not in dropped:
            server.receive_reveal(s, c.reveal(survivors))
    t = time.perf_counter()
    total, _ = server.finish()
    decoded = config.encoding.decode_sum(total, len(survivors))
    unmask_s = time.perf_counter() - t
    # Peak memory from a second, traced unmasking: tracing slows the big-integer Shamir arithmetic
    # twentyfold, so the timed run above is untraced (finish() leaves the server's state as it was).
    tracemalloc.start()
    server.finish()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    expected = sum(vectors[s].astype(np.float64) for s in survivors)
    error = float(np.max(np.abs(decoded - expected)))
    # Plain baseline: serialising one update into upload chunks, and summing the plain vectors.
    some = vectors[survivors[0]]
    t = time.perf_counter()
    plain_msgs = [m.SerializeToString() for m in upload_stream(1, "x", "t", some.tobytes())]
    serialise_s = time.perf_counter() - t
    t = time.perf_counter()
    plain_total = np.zeros(d)
    for s in survivors:
        plain_total += vectors[s]
    plain_sum_s = time.perf_counter() - t
    return {"n": n, "d": d, "dropped": drop, "degree": config.degree, "threshold": config.threshold,
            "bits": config.bits, "setup_s": float(np.mean(list(setup_s.values()))),
            "mask_s": float(np.mean(mask_s)), "serialise_s": serialise_s, "unmask_s": unmask_s,
            "plain_sum_s": plain_sum_s, "server_peak_mb": peak / 2 ** 20, "upload_bytes": upload_bytes,
            "key_bytes": int(np.mean(list(key_bytes.values()))), "plain_bytes": sum(len(m) for m in plain_msgs),
            "max_error": error, "error_bound": config.encoding.error_bound(len(survivors))}


def flower_case(python: str, n: int, d: int) -> dict | None:
    res = subprocess.run([python, str(FLOWER_SCRIPT), "--n", str(n), "--d", str(d)], capture_output=True, text=True)
    if res.returncode != 0:
        print(f"flower comparison failed: {res.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(res.stdout)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="10,50,100")
    ap.add_argument("--d", default="100000,1000000")
    ap.add_argument("--drop-fraction", type=float, default=0.05, help="sites dropping before masked input")
    ap.add_argument("--flower-python", default="", help="python of a venv with flwr installed (bench-only)")
    ap.add_argument("--out", type=Path, default=Path("reports"))
    ap.add_argument("--dropouts", action="store_true",
                    help="instead: recovery and unmasking time under random and contiguous dropouts per n and d")
    ap.add_argument("--dropout-fractions", default="0.05,0.2")
    ap.add_argument("--graph-trials", type=int, default=200, help="extra relabellings checked per scenario")
    args = ap.parse_args(argv)
    if args.dropouts:
        return dropouts_main(args)
    rows = []
    for d in [int(x) for x in args.d.split(",")]:
        for n in [int(x) for x in args.n.split(",")]:
            row = run_case(n, d, int(args.drop_fraction * n))
            if args.flower_python:
                row["flower"] = flower_case(args.flower_python, n, d)
            rows.append(row)
            fl = row.get("flower") or {}
            print(f"n={n:4d} d={d:8d} k={row['degree']:3d} t={row['threshold']:3d}  setup {row['setup_s']*1e3:7.1f} ms  "
                  f"mask {row['mask_s']*1e3:7.1f} ms (serialise {row['serialise_s']*1e3:6.1f} ms)  "
                  f"unmask {row['unmask_s']:6.2f} s (plain sum {row['plain_sum_s']:.3f} s)  "
                  f"peak {row['server_peak_mb']:7.1f} MB  bytes {row['upload_bytes'] + row['key_bytes']:>9d} vs "
                  f"plain {row['plain_bytes']:>9d}  err {row['max_error']:.1e} ≤ {row['error_bound']:.1e}"
                  + (f"  flower mask {fl['mask_s']*1e3:.1f} ms" if fl else ""), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "secagg.json").write_text(json.dumps(rows, indent=1))
    lines = ["# Secure aggregation benchmark", "",
             "One SecAgg+ round in process (the services' classes), 5% of sites dropping after key sharing. "
             "Times are per site (setup, masking) and at the aggregator (unmasking incl. dropout recovery); "
             "bytes per site: masked upload + key stage, against the plain float32 upload.", "",
             "| n | d | k | t | setup ms | mask ms | serialise ms | mask/serialise | unmask s | plain sum s | "
             "server peak MB | bytes/plain | max error | bound | Flower mask ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fl = r.get("flower") or {}
        lines.append(f"| {r['n']} | {r['d']} | {r['degree']} | {r['threshold']} | {r['setup_s']*1e3:.1f} | "
                     f"{r['mask_s']*1e3:.1f} | {r['serialise_s']*1e3:.1f} | {r['mask_s']/r['serialise_s']:.1f} | "
                     f"{r['unmask_s']:.2f} | {r['plain_sum_s']:.3f} | {r['server_peak_mb']:.0f} | "
                     f"{(r['upload_bytes'] + r['key_bytes']) / r['plain_bytes']:.3f} | {r['max_error']:.1e} | "
                     f"{r['error_bound']:.1e} | {fl.get('mask_s', float('nan'))*1e3:.1f} |")
    (args.out / "secagg.md").write_text("\n".join(lines) + "\n")
    return 0


def dropouts_main(args) -> int:
    rows = []
    for n, d in zip([int(x) for x in args.n.split(",")], itertools.cycle([int(x) for x in args.d.split(",")])):
        rows += run_dropouts(n, d, [float(f) for f in args.dropout_fractions.split(",")], args.graph_trials)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "secagg_dropouts.json").write_text(json.dumps(rows, indent=1))
    (args.out / "secagg_dropouts.md").write_text(markdown(rows))
    print(f"wrote {args.out / 'secagg_dropouts.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
