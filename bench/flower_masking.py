"""Flower's SecAgg+ primitives on the same n and d (run with a Python that has flwr installed).

Called by bench/secagg.py; prints JSON. Mirrors Flower's per-site masking: quantise, one self mask
and one pairwise mask per neighbour from `pseudo_rand_gen`, modular sum; and the server's removal of
every survivor's self mask.
"""
import argparse
import json
import math
import time

import numpy as np
from flwr.common.secure_aggregation.crypto.symmetric_encryption import generate_key_pairs, generate_shared_key
from flwr.common.secure_aggregation.quantization import quantize
from flwr.common.secure_aggregation.secaggplus_utils import pseudo_rand_gen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--d", type=int, required=True)
    args = ap.parse_args()
    n, d = args.n, args.d
    k = min(n - 1, 2 * math.ceil(1.5 * math.log2(max(n, 2))))  # same neighbourhood size as FedAds
    mod_range, target_range = 1 << 48, 1 << 22
    rng = np.random.default_rng(0)
    vec = [rng.normal(size=d).astype(np.float32)]
    keys = [generate_key_pairs() for _ in range(k + 1)]
    t = time.perf_counter()
    seeds = [generate_shared_key(keys[0][0], keys[j][1])[:32] for j in range(1, k + 1)]
    setup_s = time.perf_counter() - t
    t = time.perf_counter()
    q = quantize(vec, 8.0, target_range)
    masked = q[0].astype(np.int64) + pseudo_rand_gen(b"\x01" * 32, mod_range, [(d,)])[0]
    for j, seed in enumerate(seeds):
        m = pseudo_rand_gen(seed, mod_range, [(d,)])[0]
        masked = masked + m if j % 2 else masked - m
    masked %= mod_range
    mask_s = time.perf_counter() - t
    t = time.perf_counter()
    total = np.zeros(d, dtype=np.int64)
    for i in range(n):
        total = (total - pseudo_rand_gen(i.to_bytes(4, "little") * 8, mod_range, [(d,)])[0]) % mod_range
    unmask_s = time.perf_counter() - t
    print(json.dumps({"setup_s": setup_s, "mask_s": mask_s, "unmask_self_masks_s": unmask_s}))


if __name__ == "__main__":
    main()
