"""bench/load: many lightweight sites (real gRPC, real SecAgg+, random updates instead of training)
connected at once for several rounds; prints round times and the coordinator's and aggregator's
memory (RSS) and open file descriptors after every round, to show they stay flat.

Run: `.venv/bin/python -m bench.load --sites 100 --rounds 10`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import numpy as np

from client_agent.enrolment import enroll
from client_agent.local_store import LocalStore
from client_agent.secure_upload import SecureAggregationSession
from client_agent.agent import upload_stream
from fedads.runtime.site_auth import site_credentials
from deploy import processes as P
from fedads.datasets import synthetic
from fedads.runtime.hashing import sha256_hex
from fedads.runtime.layout import UpdateLayout
from fedads.runtime.registry import manifest_from_proto
from fedads.runtime.server import channel
from fedads.v1 import aggregator_pb2_grpc, coordinator_pb2_grpc, registry_pb2, registry_pb2_grpc
from fedads.v1 import coordinator_pb2 as cpb
from fedads.runtime.pki_cli import init_federation
from fedads.runtime.tls import Transport

PLAIN = Transport.insecure()  # only with --insecure


class LightSite(threading.Thread):
    """Speaks the whole site protocol; its 'training' is a random update of the right shape."""

    def __init__(self, site_id: str, coordinator: str, token: str, state: Path, ca_pem: bytes = b"",
                 enroll_address: str = ""):
        super().__init__(daemon=True, name=site_id)
        self.site_id, self.store = site_id, LocalStore(state)
        secret, self.transport = enroll(self.store, site_id, token, coordinator, ca_pem, enroll_address)
        ch = channel(coordinator, self.transport)
        self.coordinator = coordinator_pb2_grpc.CoordinatorServiceStub(ch)
        self.registry = registry_pb2_grpc.ModelRegistryServiceStub(ch)
        self.md = site_credentials(site_id, secret)
        self.rng = np.random.default_rng(abs(hash(site_id)) % 2**32)
        self.stream = None
        self.errors: list[str] = []

    def run(self):
        self.stream = self.coordinator.Connect(cpb.ConnectRequest(num_samples=100), metadata=self.md)
        try:
            for task in self.stream:
                try:
                    self.handle(task)
                except grpc.RpcError as exc:
                    self.errors.append(f"{exc.code().name}: {exc.details()}")
        except grpc.RpcError:
            pass

    def handle(self, task):
        if task.kind == cpb.TASK_KIND_EVALUATE:
            self.coordinator.ReportResult(cpb.TaskResult(
                round_id=task.round_id, kind=task.kind, model_version=task.model_version, ok=True,
                metrics=cpb.EvalMetrics(num_users=1, hr_at_10=0.5, ndcg_at_10=0.3)), metadata=self.md, timeout=30)
            return
        agg = aggregator_pb2_grpc.AggregatorServiceStub(channel(task.aggregator_address, self.transport))
        session = SecureAggregationSession(agg, task, self.site_id, self.store.identity_key())
        session.setup()
        manifest = manifest_from_proto(self.registry.GetManifest(
            registry_pb2.GetManifestRequest(version=task.model_version), timeout=30))
        layout = UpdateLayout.from_manifest(manifest)
        deltas = {s.name: self.rng.normal(0, 1e-3, size=s.shape) for s in layout.slots}
        vector = layout.pack(deltas, {scope: 100.0 for scope in layout.scopes})
        data = session.config.encoding.pack(session.mask(vector))
        agg.UploadUpdate(upload_stream(task.round_id, self.site_id, task.upload_token, data,
                                       f"uint{session.config.bits}"), timeout=120)
        self.coordinator.ReportResult(cpb.TaskResult(
            round_id=task.round_id, kind=task.kind, model_version=task.model_version, ok=True, num_samples=100,
            bytes_sent=len(data), upload_sha256=sha256_hex(data)), metadata=self.md, timeout=30)
        session.unmask()

    def stop(self):
        if self.stream is not None:
            self.stream.cancel()


def process_stats(pid: int) -> dict:
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) // 1024
    return {"rss_mb": rss, "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def run(n_sites: int, rounds: int, workdir: Path, progress=print, tls: bool = True) -> list[dict]:
    coord, agg, enroll_address = (f"127.0.0.1:{P.free_port()}" for _ in range(3))
    (workdir / "model.json").write_text(json.dumps({"dim": 16, "ffn_hidden": 16, "max_seq_len": 10}))
    synthetic.catalog(workdir / "catalog", 200)
    pki = init_federation(workdir / "pki") if tls else {}
    operator = Transport.from_dir(pki["operator"]) if tls else PLAIN
    procs = [P.start("aggregator.main", ["--listen", agg, "--registry", str(workdir / "registry"),
                                         "--log-level", "WARNING", *P.transport_flags(pki.get("aggregator"))],
                     workdir / "aggregator.log"),
             P.start("coordinator.main", ["--listen", coord, "--db", str(workdir / "c.db"), "--registry",
                                          str(workdir / "registry"), "--aggregator", agg, "--init-model",
                                          str(workdir / "model.json"), "--catalog", str(workdir / "catalog"), "--audit-key", str(workdir / "audit.key"),
                                          "--admin-token-file", str(workdir / "admin.token"),
                                          "--enroll-listen", enroll_address, "--ca-dir", str(workdir / "pki" / "ca"),
                                          "--log-level", "WARNING", *P.transport_flags(pki.get("coordinator"))],
                     workdir / "coordinator.log")]
    sites = []
    try:
        P.wait_healthy(agg, operator, proc=procs[0])
        P.wait_healthy(coord, operator, proc=procs[1])
        ctl = ["--admin-token-file", str(workdir / "admin.token"), *P.transport_flags(pki.get("operator"))]
        ca_pem = (workdir / "pki" / "ca" / "ca.crt").read_bytes() if tls else b""
        for i in range(n_sites):
            site = f"site-{i:03d}"
            token = json.loads(P.ctl(coord, *ctl, "--json", "enroll", "--site", site).stdout)["enrollment_token"]
            sites.append(LightSite(site, coord, token, workdir / site, ca_pem, enroll_address))
        for s in sites:
            s.start()
        deadline = time.time() + 120
        while sum(c["online"] for c in json.loads(P.ctl(coord, *ctl, "--json", "clients").stdout)) < n_sites:
            if time.time() > deadline:
                raise TimeoutError("sites did not all connect")
            time.sleep(0.5)
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
                     f"{row['coordinator']['rss_mb']} MB / {row['coordinator']['fds']} fds  aggregator "
                     f"{row['aggregator']['rss_mb']} MB / {row['aggregator']['fds']} fds"
                     + (f"  ({info.get('failure_reason')})" if info["state"] != "COMPLETED" else ""))
        return rows
    finally:
        for s in sites:
            s.stop()
        P.stop(procs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--insecure", action="store_true", help="plaintext gRPC (default: mTLS, as deployed)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = run(args.sites, args.rounds, Path(tmp), tls=not args.insecure)
    return 0 if all(r["state"] == "COMPLETED" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
