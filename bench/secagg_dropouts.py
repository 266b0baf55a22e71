"""bench/secagg --dropouts: does unmasking survive random and contiguous dropouts, and how fast is it?

Per n, one SecAgg+ round runs key setup and masking once with the services' classes; each dropout
scenario (random or contiguous in site-id order, at each fraction) then gets its own copy of the
post-sharing aggregator, which receives the scenario's survivors' masked inputs and reveals and
unmasks. Beside the one real round per scenario, `graph_trials` further relabellings count how many
of them would leave some secret unrecoverable, against recovery_failure_probability's bound.
"""
from __future__ import annotations

import hashlib
import time

import numpy as np

from privacy.secagg.client import SecAggClient
from privacy.secagg.config import SecAggConfig
from privacy.secagg.graph import NeighbourGraph
from privacy.secagg.keys import SecAggError, new_identity_key, public_bytes
from privacy.secagg.recovery import unrecoverable
from privacy.secagg.server import SecAggServer

PATTERNS = ("random", "contiguous")


def dropout_set(sites: list[str], fraction: float, pattern: str, rng: np.random.Generator) -> set[str]:
    m = int(fraction * len(sites))
    if pattern == "random":
        return set(rng.choice(sites, size=m, replace=False).tolist())
    start = int(rng.integers(len(sites)))  # a run of adjacent ids (one region), wrapping at the end
    return {sites[(start + j) % len(sites)] for j in range(m)}


def _copy_after_sharing(base: SecAggServer) -> SecAggServer:
    return SecAggServer(base.config, base.length, adverts=dict(base.adverts), shares=base.shares,
                        sharers=set(base.sharers), graph=base.graph)


def run_dropouts(n: int, d: int, fractions: list[float], graph_trials: int, seed: int = 0,
                 progress=print) -> list[dict]:
    rng = np.random.default_rng(seed)
    sites = [f"site-{i:04d}" for i in range(n)]
    config = SecAggConfig(1, tuple(sites))
    ids = {s: new_identity_key() for s in sites}
    pks = {s: public_bytes(k) for s, k in ids.items()}
    clients = {s: SecAggClient(config, s, ids[s], pks) for s in sites}
    base = SecAggServer(config, d)
    t0 = time.perf_counter()
    for c in clients.values():
        base.receive_advert(c.advertise())
    first_setup = None
    for s, c in clients.items():
        t = time.perf_counter()
        shares = c.share_keys(base.adverts_for(s))
        # The first site verifies all n signatures itself (the others reuse the process's cache of checks).
        first_setup = first_setup if first_setup is not None else time.perf_counter() - t
        base.receive_shares(s, shares)
    for s, c in clients.items():
        c.receive_shares(base.shares_for(s))
    setup_total = time.perf_counter() - t0
    scenarios = [(p, f, dropout_set(sites, f, p, rng)) for f in fractions for p in PATTERNS]
    servers = [_copy_after_sharing(base) for _ in scenarios]
    t0, mask_s = time.perf_counter(), []
    vectors_sum = [np.zeros(d) for _ in scenarios]
    for s in sites:
        x = rng.normal(size=d).astype(np.float32)
        t = time.perf_counter()
        y = config.encoding.unpack(config.encoding.pack(clients[s].mask(x, rng)))
        mask_s.append(time.perf_counter() - t)
        for (_, _, dropped), server, acc in zip(scenarios, servers, vectors_sum):
            if s not in dropped:
                server.receive_masked(s, y)
                acc += x
    progress(f"n={n} d={d} k={config.degree} t={config.threshold}: key setup {setup_total:.1f} s for all sites "
             f"(first site {first_setup * 1e3:.0f} ms), masking {np.mean(mask_s) * 1e3:.1f} ms per site "
             f"({time.perf_counter() - t0:.1f} s for all)")
    failing = [0] * len(scenarios)
    for i in range(graph_trials):
        graph = NeighbourGraph(hashlib.sha256(b"trial-%d" % i).digest(), sites, config.degree)
        for j, (_, _, dropped) in enumerate(scenarios):
            failing[j] += bool(unrecoverable(graph, config.threshold, dropped))
    rows = []
    for (pattern, fraction, dropped), server, expected, failed in zip(scenarios, servers, vectors_sum, failing):
        survivors = server.survivors()
        for s in survivors:
            clients[s].revealed.clear()  # each scenario is a separate round for the same key material
            server.receive_reveal(s, clients[s].reveal(survivors))
        t = time.perf_counter()
        try:
            total, _ = server.finish()
            unmask_s = time.perf_counter() - t
            error = float(np.max(np.abs(config.encoding.decode_sum(total, len(survivors)) - expected)))
            recovered, reason = error <= config.encoding.error_bound(len(survivors)), ""
        except SecAggError as exc:
            unmask_s, error, recovered, reason = time.perf_counter() - t, float("nan"), False, str(exc)
        row = {"n": n, "d": d, "degree": config.degree, "threshold": config.threshold, "pattern": pattern,
               "fraction": fraction, "dropped": len(dropped), "recovered": bool(recovered), "reason": reason,
               "unmask_s": unmask_s, "max_error": error, "graph_trials": graph_trials,
               "trials_unrecoverable": failed,
               "failure_bound": config.recovery_failure_probability(len(dropped)),
               # What the earlier ring in sorted-id order would have lost with the same k and t.
               "sorted_ring_unrecoverable": len(unrecoverable(NeighbourGraph.from_order(sites, config.degree),
                                                              config.threshold, dropped)),
               "setup_first_site_s": first_setup, "mask_s": float(np.mean(mask_s))}
        rows.append(row)
        progress(f"  {pattern:10s} {fraction:4.0%} ({len(dropped):4d} dropped): "
                 f"{'recovered' if recovered else 'FAILED: ' + reason}  unmask {unmask_s:6.2f} s  "
                 f"{failed}/{graph_trials} relabellings unrecoverable  P(fail) ≤ {row['failure_bound']:.1e}  "
                 f"(sorted ring: {row['sorted_ring_unrecoverable']} secrets lost)")
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["# Secure aggregation under dropouts", "",
             "One SecAgg+ round per n with the services' classes; each scenario drops its sites after key sharing "
             "(before masked input) and unmasks on its own copy of the aggregator. `contiguous`: a run of adjacent "
             "site ids (one region). Relabellings: further seeded graphs checked for an unrecoverable secret. "
             "Bound: privacy/secagg/recovery.py (union bound over sites, exact hypergeometric per site). "
             "Sorted ring: secrets the earlier ring in site-id order would have lost with the same k and t.", "",
             "| n | d | k | t | dropouts | dropped | recovered | unmask s | unrecoverable relabellings | "
             "P(fail) bound | sorted ring: secrets lost |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['n']} | {r['d']} | {r['degree']} | {r['threshold']} | {r['pattern']} "
                     f"{r['fraction']:.0%} | {r['dropped']} | {'yes' if r['recovered'] else 'no: ' + r['reason']} | "
                     f"{r['unmask_s']:.2f} | {r['trials_unrecoverable']}/{r['graph_trials']} | "
                     f"{r['failure_bound']:.1e} | {r['sorted_ring_unrecoverable']} |")
    return "\n".join(lines) + "\n"
