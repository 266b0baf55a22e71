"""bench/serving: p50/p99 latency and throughput of Rank over gRPC, against the in-process forward floor.

Serving runs as its own process; load comes from another process. Writes reports/serving.md and
reports/serving_latency.png. Run: `.venv/bin/python -m bench.serving` (about 3 minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from admodels.models.fedads_model import ModelConfig, build_model
from deploy import processes as P
from fedads.datasets import synthetic
from fedads.runtime.catalog_store import CatalogStore
from fedads.runtime.registry import ModelRegistry
from fedads.runtime.server import channel
from fedads.v1 import serving_pb2 as spb
from fedads.v1 import serving_pb2_grpc
from serving.batcher import ScoreJob, forward_batch
from serving.model_holder import load_version
from fedads.runtime.tls import Transport

PLAIN = Transport.insecure()  # these runs measure or fuzz the services, not TLS


def in_process_floor(registry: ModelRegistry, candidates: int, seq_len: int, threads: int, reps: int = 100) -> float:
    torch.set_num_threads(threads)
    loaded = load_version(registry, 0)
    rng = np.random.default_rng(1)
    job = ScoreJob(loaded, [int(x) for x in rng.integers(1, loaded.config.n_items, seq_len)],
                   [int(x) for x in rng.integers(1, loaded.config.n_items, candidates)])
    for _ in range(10):
        forward_batch([job])
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        forward_batch([job])
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def run_load(address: str, candidates: int, concurrency: int, n_items: int) -> dict:
    res = subprocess.run([sys.executable, "-m", "bench.serving_load", "--address", address, "--candidates",
                          str(candidates), "--concurrency", str(concurrency), "--n-items", str(n_items),
                          "--requests", str(max(300, 40 * concurrency))],
                         capture_output=True, text=True, env=P.child_env(), cwd=P.REPO_ROOT, check=True)
    out = json.loads(res.stdout)
    lat = np.array(out["latencies"]) * 1000
    return {"p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "rps": len(lat) / out["wall"], "requests": len(lat), "errors": out["errors"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-items", type=int, default=3706, help="catalogue size (3706: MovieLens-1M)")
    ap.add_argument("--seq-len", type=int, default=50)
    ap.add_argument("--candidates", default="1,10,100,1000")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--threads", default="1,2", help="torch threads settings of serving to compare")
    ap.add_argument("--out", type=Path, default=Path("reports"))
    args = ap.parse_args(argv)
    cand_list = [int(x) for x in args.candidates.split(",")]
    conc_list = [int(x) for x in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        registry = ModelRegistry(Path(tmp) / "registry")
        catalog, _ = CatalogStore(registry.root).import_catalog(synthetic.catalog(Path(tmp) / "catalog",
                                                                                  args.n_items).root)
        config = ModelConfig(n_items=catalog.n_ads, max_seq_len=args.seq_len)
        model = build_model(config)
        registry.publish(**model.publication(), parent_version=0, round_id=0, catalog=catalog.ref())
        rows = []
        for threads in [int(x) for x in args.threads.split(",")]:
            address = f"127.0.0.1:{P.free_port()}"
            proc = P.start("serving.main", ["--listen", address, "--registry", str(registry.root), "--threads",
                                            str(threads), "--max-seq-len", str(args.seq_len), "--insecure"],
                           Path(tmp) / f"serving-{threads}.log")
            try:
                P.wait_healthy(address, PLAIN, proc=proc)
                stub = serving_pb2_grpc.ServingServiceStub(channel(address, PLAIN))
                rng = np.random.default_rng(2)
                for u in range(64):  # every user has a full behaviour sequence
                    stub.RecordEvents(iter([spb.BehaviorEvent(user_id=f"user-{u}", ad_id=synthetic.ad_id(int(i)))
                                            for i in rng.integers(1, args.n_items, args.seq_len)]))
                for c in cand_list:
                    floor = in_process_floor(registry, c, args.seq_len, threads) * 1000
                    for conc in conc_list:
                        r = run_load(address, c, conc, args.n_items)
                        row = {"threads": threads, "candidates": c, "concurrency": conc, "floor_ms": floor, **r}
                        rows.append(row)
                        print(f"threads={threads} candidates={c:5d} concurrency={conc:3d}  p50 {r['p50_ms']:7.2f} ms  "
                              f"p99 {r['p99_ms']:7.2f} ms  {r['rps']:7.1f} req/s  floor {floor:6.2f} ms  "
                              f"errors {r['errors']}", flush=True)
            finally:
                P.stop([proc])
    write_report(rows, args.out)
    return 0


def write_report(rows: list[dict], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    (out / "serving.json").write_text(json.dumps(rows, indent=1))
    lines = ["# Serving benchmark", "",
             f"Rank over gRPC from a separate load process; sequence length 50; {torch.__version__} on "
             f"{torch.get_num_threads()}-thread CPU host. Floor: in-process forward of the same single request.", "",
             "| threads | candidates | concurrency | p50 ms | p99 ms | req/s | floor ms | p50/floor | errors |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['threads']} | {r['candidates']} | {r['concurrency']} | {r['p50_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {r['rps']:.0f} | {r['floor_ms']:.2f} | {r['p50_ms'] / r['floor_ms']:.2f} | "
                     f"{r['errors']} |")
    (out / "serving.md").write_text("\n".join(lines) + "\n\n![latency](serving_latency.png)\n")
    fig, ax = plt.subplots(figsize=(7, 4))
    for threads in sorted({r["threads"] for r in rows}):
        for conc in sorted({r["concurrency"] for r in rows}):
            sel = [r for r in rows if r["threads"] == threads and r["concurrency"] == conc]
            ax.plot([r["candidates"] for r in sel], [r["p99_ms"] for r in sel], marker="o",
                    label=f"p99, {threads} thr, conc {conc}")
    floor = [r for r in rows if r["concurrency"] == rows[0]["concurrency"] and r["threads"] == rows[0]["threads"]]
    ax.plot([r["candidates"] for r in floor], [r["floor_ms"] for r in floor], "k--", label="in-process floor")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("candidates per request")
    ax.set_ylabel("latency (ms)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "serving_latency.png", dpi=120)


if __name__ == "__main__":
    sys.exit(main())
