"""bench/load: many lightweight sites (real gRPC over mTLS, real SecAgg+, random updates instead of
training) connected at once for several rounds; prints round times and the coordinator's and
aggregator's memory (RSS) and open file descriptors after every round, to show they stay flat.

All sites live in this process, on one asyncio event loop (bench/load_sites.py), each with its own
certificate and therefore its own connections: one to the coordinator, one to the aggregator, reused
across rounds. The services run as their own processes with a worker pool sized above the number of
sites (each connected site holds one coordinator thread, each site in a SecAgg+ stage one aggregator
thread), and the soft descriptor limit is raised (within the hard one) to what the sites need, for this
process and the services it starts.

Run: `.venv/bin/python -m bench.load --sites 1000 --rounds 5`.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from coordinator.admin_auth import admin_channel, read_token
from bench.load_sites import LightSite, SiteLoop
from deploy import processes as P
from fedads.datasets import synthetic
from fedads.runtime.server import channel
from fedads.v1 import admin_pb2 as apb, admin_pb2_grpc, common_pb2
from fedads.runtime.pki_cli import init_federation
from fedads.runtime.tls import Transport

PLAIN = Transport.insecure()  # only with --insecure
# Descriptors per site, over all processes: its two client sockets here, their server ends in the coordinator and
# the aggregator, and its state files while enrolling; plus the services' and this process's own.
FDS_PER_SITE, FDS_BASE = 4, 512
RPC_THREADS_SPARE = 64  # operator calls, health checks and the short site calls beside the held streams


def raise_fd_limit(n_sites: int) -> int:
    """Raise the soft RLIMIT_NOFILE (inherited by the services started after this) towards what n_sites need,
    within the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = FDS_PER_SITE * n_sites + FDS_BASE
    target = want if hard == resource.RLIM_INFINITY else min(hard, want)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft < want:
        raise RuntimeError(f"{n_sites} sites need about {want} open files; the hard limit is {hard} "
                           f"(raise it with ulimit -Hn as root)")
    return soft


def process_stats(pid: int) -> dict:
    rss = threads = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) // 1024
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return {"rss_mb": rss, "fds": len(os.listdir(f"/proc/{pid}/fd")), "threads": threads}


def online_sites(admin) -> int:
    return sum(c.online for c in admin.ListClients(common_pb2.Empty(), timeout=60).clients)


def run(n_sites: int, rounds: int, workdir: Path, progress=print, tls: bool = True) -> list[dict]:
    fd_limit = raise_fd_limit(n_sites)
    threads = str(n_sites + RPC_THREADS_SPARE)
    coord, agg, enroll_address = (f"127.0.0.1:{P.free_port()}" for _ in range(3))
    (workdir / "model.json").write_text(json.dumps({"dim": 16, "ffn_hidden": 16, "max_seq_len": 10}))
    synthetic.catalog(workdir / "catalog", 200)
    pki = init_federation(workdir / "pki") if tls else {}
    operator = Transport.from_dir(pki["operator"]) if tls else PLAIN
    procs = [P.start("aggregator.main", ["--listen", agg, "--registry", str(workdir / "registry"),
                                         "--rpc-threads", threads, "--log-level", "WARNING",
                                         *P.transport_flags(pki.get("aggregator"))],
                     workdir / "aggregator.log"),
             P.start("coordinator.main", ["--listen", coord, "--db", str(workdir / "c.db"), "--registry",
                                          str(workdir / "registry"), "--aggregator", agg, "--init-model",
                                          str(workdir / "model.json"), "--catalog", str(workdir / "catalog"), "--audit-key", str(workdir / "audit.key"),
                                          "--admin-token-file", str(workdir / "admin.token"),
                                          "--enroll-listen", enroll_address, "--ca-dir", str(workdir / "pki" / "ca"),
                                          "--rpc-threads", threads, "--log-level", "WARNING",
                                          *P.transport_flags(pki.get("coordinator"))],
                     workdir / "coordinator.log")]
    sites, admin_ch, loop = [], None, None
    try:
        P.wait_healthy(agg, operator, proc=procs[0])
        P.wait_healthy(coord, operator, proc=procs[1])
        ctl = ["--admin-token-file", str(workdir / "admin.token"), *P.transport_flags(pki.get("operator"))]
        # Tokens through the admin API from here: a coordinatorctl process per site would cost a Python start-up each.
        admin_ch = channel(coord, operator)
        admin = admin_pb2_grpc.AdminServiceStub(admin_channel(admin_ch, read_token(str(workdir / "admin.token"))))
        ca_pem = (workdir / "pki" / "ca" / "ca.crt").read_bytes() if tls else b""
        t = time.perf_counter()
        for i in range(n_sites):
            site = f"site-{i:04d}"
            token = admin.CreateEnrollment(apb.CreateEnrollmentRequest(site_id=site), timeout=60).enrollment_token
            sites.append(LightSite(site, coord, token, workdir / "sites" / site, ca_pem, enroll_address))
        loop = SiteLoop(sites)
        loop.start()
        deadline = time.time() + 120 + 0.2 * n_sites
        while (online := online_sites(admin)) < n_sites:
            if time.time() > deadline:
                raise TimeoutError(f"only {online} of {n_sites} sites connected")
            time.sleep(0.5)
        progress(f"{n_sites} sites enrolled and connected in {time.perf_counter() - t:.0f} s "
                 f"(descriptor limit {fd_limit}); before round 1: coordinator {fmt(process_stats(procs[1].pid))}  "
                 f"aggregator {fmt(process_stats(procs[0].pid))}")
        rows = []
        for r in range(rounds):
            t = time.perf_counter()
            res = P.ctl(coord, *ctl, "--json", "start-round", "--wait", "--min-sites", str(n_sites), "--seed", str(r),
                        check=False)
            info = json.loads(res.stdout) if res.stdout else {"state": "ERROR", "failure_reason": res.stderr}
            row = {"round": r + 1, "state": info["state"], "wall_s": time.perf_counter() - t,
                   "coordinator": process_stats(procs[1].pid), "aggregator": process_stats(procs[0].pid)}
            rows.append(row)
            progress(f"round {row['round']:2d} {row['state']:9s} {row['wall_s']:6.1f}s  coordinator "
                     f"{fmt(row['coordinator'])}  aggregator {fmt(row['aggregator'])}"
                     + (f"  ({info.get('failure_reason')})" if info["state"] != "COMPLETED" else ""))
        errors = [f"{s.site_id}: {e}" for s in sites for e in s.errors]
        if errors:
            progress(f"{len(errors)} site call(s) failed, first: {errors[0]}")
        return rows
    finally:
        if loop is not None:
            loop.stop()
        if admin_ch is not None:
            admin_ch.close()
        P.stop(procs)


def fmt(stats: dict) -> str:
    return f"{stats['rss_mb']} MB / {stats['fds']} fds / {stats['threads']} threads"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--insecure", action="store_true", help="plaintext gRPC (default: mTLS, as deployed)")
    args = ap.parse_args(argv)
    if args.sites < 1 or args.rounds < 1:
        print("bench.load: --sites and --rounds must be at least 1", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows = run(args.sites, args.rounds, Path(tmp), tls=not args.insecure)
    except (RuntimeError, TimeoutError) as exc:  # a descriptor limit, a service that did not start, sites missing
        print(f"bench.load: {exc}", file=sys.stderr)
        return 1
    return 0 if all(r["state"] == "COMPLETED" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
