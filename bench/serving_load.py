"""Load generator for bench/serving.py: runs in its own process and calls serving over gRPC."""
from __future__ import annotations

import argparse
import json
import threading
import time

import numpy as np

from fedads.datasets.synthetic import ad_id
from fedads.runtime.server import channel
from fedads.v1 import serving_pb2 as spb
from fedads.v1 import serving_pb2_grpc
from fedads.runtime.tls import Transport

PLAIN = Transport.insecure()  # without --tls-dir


def main() -> None:
    p = argparse.ArgumentParser(description="Call Rank concurrently and print latencies as JSON.")
    p.add_argument("--address", required=True)
    p.add_argument("--candidates", type=int, required=True)
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--max-seconds", type=float, default=6.0)
    p.add_argument("--n-items", type=int, required=True)
    p.add_argument("--users", type=int, default=64)
    p.add_argument("--tls-dir", default="", help="the client's identity folder (mTLS); plaintext without it")
    args = p.parse_args()
    transport = Transport.from_dir(args.tls_dir) if args.tls_dir else PLAIN
    stub = serving_pb2_grpc.ServingServiceStub(channel(args.address, transport))
    rng = np.random.default_rng(0)
    cands = [[spb.Candidate(ad_id=ad_id(int(x)), bid=1.0)
              for x in rng.choice(np.arange(1, args.n_items + 1), args.candidates, replace=False)] for _ in range(16)]
    for i in range(10):  # warm-up
        stub.Rank(spb.RankRequest(user_id=f"user-{i}", candidates=cands[i % 16], k=10))
    latencies, errors, lock = [], [], threading.Lock()
    per_thread = max(1, args.requests // args.concurrency)
    deadline = time.perf_counter() + args.max_seconds

    def worker(t):
        for i in range(per_thread):
            if time.perf_counter() > deadline:
                return
            req = spb.RankRequest(user_id=f"user-{(t * per_thread + i) % args.users}", candidates=cands[i % 16], k=10)
            start = time.perf_counter()
            try:
                stub.Rank(req, timeout=30)
            except Exception as exc:  # noqa: BLE001 - counted, reported
                with lock:
                    errors.append(str(exc))
                continue
            with lock:
                latencies.append(time.perf_counter() - start)
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(args.concurrency)]
    started = time.perf_counter()
    [t.start() for t in threads]
    [t.join() for t in threads]
    wall = time.perf_counter() - started
    print(json.dumps({"latencies": latencies, "errors": len(errors), "wall": wall}))


if __name__ == "__main__":
    main()
