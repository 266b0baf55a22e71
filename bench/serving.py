"""bench/serving: Rank over gRPC with mTLS, against the in-process forward floor, for the feature model.

Serving runs as its own process on a registry holding a feature model (category, brand and price tables,
sized from a synthetic catalogue of UserBehavior's and MovieLens-1M's sizes); load comes from another
process (bench/serving_load.py) with the client's certificate. Each request: a user with a full behaviour
sequence, 100 candidates by ad-id string with bids, objective ecpm_cpc.

Reported per catalogue: p50/p99 at each concurrency, ranked requests/s, and where a request's time goes:
the model forward alone (the floor), the whole Rank handling in process (id resolution, history, batcher,
forward, response; the servicer called directly), and the rest (gRPC, TLS, (de)serialisation, the load
process). Writes reports/serving.md, .json and serving_latency.png.
Run: `OMP_NUM_THREADS=1 .venv/bin/python -m bench.serving` (a few minutes on 2 cores).
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

from admodels.models.ad_features import initial_config, model_features
from admodels.models.fedads_model import ModelConfig, build_model
from deploy import processes as P
from fedads.datasets import synthetic
from fedads.runtime.catalog_store import CatalogStore
from fedads.runtime.pki_cli import init_federation
from fedads.runtime.registry import ModelRegistry
from fedads.runtime.server import channel
from fedads.runtime.tls import Transport
from fedads.v1 import serving_pb2 as spb
from fedads.v1 import serving_pb2_grpc
from serving.batcher import MicroBatcher, ScoreJob, forward_batch
from serving.behavior_store import InMemoryBehaviorStore
from serving.model_holder import ModelHolder, load_version
from serving.service import ServingServicer

CATALOGUES = {"userbehavior": 55_233, "ml-1m": 3_706}  # ads: UserBehavior sample's items, MovieLens-1M's movies


def _median_ms(fn, reps: int) -> float:
    for _ in range(10):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1000


def in_process(registry: ModelRegistry, candidates: int, seq_len: int, threads: int, reps: int = 200) -> dict:
    """The forward floor and the whole Rank handling, both in this process on the same request."""
    torch.set_num_threads(threads)
    loaded = load_version(registry, 0)
    rng = np.random.default_rng(1)
    history = [int(x) for x in rng.integers(1, loaded.config.n_items + 1, seq_len)]
    cands = [int(x) for x in rng.choice(np.arange(1, loaded.config.n_items + 1), candidates, replace=False)]
    job = ScoreJob(loaded, history, cands)
    floor = _median_ms(lambda: forward_batch([job]), reps)
    store, batcher = InMemoryBehaviorStore(max_len=seq_len), MicroBatcher()
    servicer = ServingServicer(ModelHolder(registry), store, batcher)
    store.append([("u", synthetic.ad_id(i)) for i in history])
    request = spb.RankRequest(user_id="u", candidates=[spb.Candidate(ad_id=synthetic.ad_id(i), bid=1.0)
                                                       for i in cands], k=10, objective=spb.OBJECTIVE_ECPM_CPC)
    handling = _median_ms(lambda: servicer.Rank(request, None), reps)
    batcher.close()
    return {"floor_ms": floor, "handling_ms": handling}


def run_load(address: str, candidates: int, concurrency: int, n_items: int, tls_dir: Path, seconds: float) -> dict:
    res = subprocess.run([sys.executable, "-m", "bench.serving_load", "--address", address, "--candidates",
                          str(candidates), "--concurrency", str(concurrency), "--n-items", str(n_items),
                          "--requests", str(max(400, 200 * concurrency)), "--max-seconds", str(seconds),
                          "--tls-dir", str(tls_dir)],
                         capture_output=True, text=True, env=P.child_env(threads=1), cwd=P.REPO_ROOT, check=True)
    out = json.loads(res.stdout)
    lat = np.array(out["latencies"]) * 1000
    return {"p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "rps": len(lat) / out["wall"], "requests": len(lat), "errors": out["errors"]}


def bench_catalogue(name: str, n_ads: int, args, pki: dict, tmp: Path) -> list[dict]:
    registry = ModelRegistry(tmp / name / "registry")
    catalog, _ = CatalogStore(registry.root).import_catalog(synthetic.catalog(tmp / name / "catalog", n_ads).root)
    config = ModelConfig.from_dict(initial_config(json.loads((P.REPO_ROOT / "deploy/config/model_config.json")
                                                             .read_text()) | {"max_seq_len": args.seq_len}, catalog))
    model = build_model(config, ad_features=model_features(catalog, config))
    registry.publish(**model.publication(), parent_version=0, round_id=0, catalog=catalog.ref())
    client = Transport.from_dir(pki["client"])
    rows = []
    for threads in [int(x) for x in args.threads.split(",")]:
        address = f"127.0.0.1:{P.free_port()}"
        proc = P.start("serving.main", ["--listen", address, "--registry", str(registry.root), "--threads",
                                        str(threads), "--max-seq-len", str(args.seq_len), "--tls-dir",
                                        str(pki["serving"])], tmp / f"serving-{name}-{threads}.log", threads=threads)
        try:
            P.wait_healthy(address, client, proc=proc)
            stub = serving_pb2_grpc.ServingServiceStub(channel(address, client))
            rng = np.random.default_rng(2)
            for u in range(64):  # every user has a full behaviour sequence
                stub.RecordEvents(iter([spb.BehaviorEvent(user_id=f"user-{u}", ad_id=synthetic.ad_id(int(i)))
                                        for i in rng.integers(1, n_ads + 1, args.seq_len)]))
            for c in [int(x) for x in args.candidates.split(",")]:
                inproc = in_process(registry, c, args.seq_len, threads)
                for conc in [int(x) for x in args.concurrency.split(",")]:
                    r = run_load(address, c, conc, n_ads, pki["client"], args.seconds)
                    row = {"catalogue": name, "ads": n_ads, "threads": threads, "candidates": c, "concurrency": conc,
                           **inproc, **r}
                    rows.append(row)
                    print(f"{name} ({n_ads} ads) threads={threads} candidates={c} concurrency={conc}: p50 "
                          f"{r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  {r['rps']:.0f} req/s  floor "
                          f"{inproc['floor_ms']:.2f} ms  in-process Rank {inproc['handling_ms']:.2f} ms  "
                          f"errors {r['errors']}", flush=True)
        finally:
            P.stop([proc])
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalogues", default=",".join(CATALOGUES), help=f"of {', '.join(CATALOGUES)}")
    ap.add_argument("--seq-len", type=int, default=50)
    ap.add_argument("--candidates", default="100")
    ap.add_argument("--concurrency", default="1,8")
    ap.add_argument("--threads", default="1", help="torch threads settings of serving to compare")
    ap.add_argument("--seconds", type=float, default=8.0, help="at most this long per load run")
    ap.add_argument("--out", type=Path, default=Path("reports"))
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pki = init_federation(Path(tmp) / "pki")
        for name in args.catalogues.split(","):
            rows += bench_catalogue(name, CATALOGUES[name], args, pki, Path(tmp))
    write_report(rows, args.out)
    return 0


def write_report(rows: list[dict], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    (out / "serving.json").write_text(json.dumps(rows, indent=1))
    lines = ["# Serving benchmark", "",
             "Rank (objective ecpm_cpc, bids) over gRPC with mTLS from a separate load process; the feature model "
             "(deploy/config/model_config.json; category, brand, price tables) on synthetic catalogues of "
             f"UserBehavior's and ML-1M's sizes; sequence 50; torch {torch.__version__}. Floor: the in-process "
             "forward of the same single request; in-process Rank: the servicer called directly (resolution, "
             "history, batcher, forward, response).", "",
             "| catalogue | threads | candidates | concurrency | p50 ms | p99 ms | req/s | floor ms | in-process Rank ms "
             "| p50/floor | errors |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['catalogue']} ({r['ads']} ads) | {r['threads']} | {r['candidates']} | {r['concurrency']} | "
                     f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['rps']:.0f} | {r['floor_ms']:.2f} | "
                     f"{r['handling_ms']:.2f} | {r['p50_ms'] / r['floor_ms']:.2f} | {r['errors']} |")
    (out / "serving.md").write_text("\n".join(lines) + "\n\n![latency](serving_latency.png)\n")
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = [f"{r['catalogue']}\nconc {r['concurrency']}" for r in rows]
    x = np.arange(len(rows))
    ax.bar(x - 0.3, [r["floor_ms"] for r in rows], 0.2, label="forward floor")
    ax.bar(x - 0.1, [r["handling_ms"] for r in rows], 0.2, label="in-process Rank")
    ax.bar(x + 0.1, [r["p50_ms"] for r in rows], 0.2, label="gRPC p50")
    ax.bar(x + 0.3, [r["p99_ms"] for r in rows], 0.2, label="gRPC p99")
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("ms")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "serving_latency.png", dpi=120)


if __name__ == "__main__":
    sys.exit(main())
