"""`make demo`: a local federation on real MovieLens data, driven through coordinatorctl.

Starts the aggregator, the coordinator and K client agents as separate processes on loopback,
runs R rounds, prints per-round held-out HR@10/NDCG@10 (99 sampled negatives) and writes a
JSON report, then starts serving and makes real gRPC inference calls. It ends with an auction over Taobao
UserBehavior ads for a held-out user (deploy/auction_demo.py; --auction-rounds 0 skips it).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from deploy import processes as P
from deploy.auction_demo import run_auction
from deploy.inference_demo import show_ranking_shift
from deploy.site_setup import prepare_federation
from fedads.runtime import cli
from fedads.runtime.pki_cli import init_federation
from fedads.runtime.tls import Transport


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser("fedads-demo", __doc__)
    p.add_argument("--dataset", choices=["ml-100k", "ml-1m"], default="ml-100k")
    p.add_argument("--sites", type=int, default=4, help="number of partner sites (split by zip-code region)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--max-users", type=int, default=0, help="use a random subset of this many users (0: all)")
    p.add_argument("--epochs", type=int, default=1, help="local epochs per round")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--max-targets-per-user", type=int, default=40,
                   help="training targets per user per epoch, most recent first (0: all)")
    p.add_argument("--min-sites", type=int, default=0, help="round quorum (default: all sites)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-config", type=Path, default=Path(__file__).with_name("config") / "model_config.json",
                   help="model hyper-parameters, the same file the compose and Kubernetes deployments mount "
                        "(sizes come from the catalogue)")
    p.add_argument("--workdir", type=Path, default=Path(".demo"), help="scratch folder (wiped at start)")
    p.add_argument("--report", type=Path, default=Path("reports/demo.json"))
    p.add_argument("--auction-rounds", type=int, default=2,
                   help="the closing auction on Taobao UserBehavior: federated rounds trained for it (0: skip it)")
    p.add_argument("--insecure", action="store_true",
                   help="plaintext gRPC everywhere (default: a fresh federation CA and mTLS on every link)")
    return p


def run(args) -> dict:
    workdir = args.workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    coord_addr, enroll_addr = f"127.0.0.1:{P.free_port()}", f"127.0.0.1:{P.free_port()}"
    agg_addr = f"127.0.0.1:{P.free_port()}"
    pki = None if args.insecure else init_federation(workdir / "pki")
    tls = (lambda name: P.transport_flags(pki[name] if pki else None))  # noqa: E731
    transport = Transport.insecure() if pki is None else Transport.from_dir(pki["operator"])
    # for the coordinatorctl calls: the operator's token and certificate
    os.environ["FEDADS_ADMIN_TOKEN_FILE"] = str(workdir / "admin.token")
    os.environ.update({"FEDADS_INSECURE": "1"} if pki is None else {"FEDADS_TLS_DIR": str(pki["operator"])})
    print(f"[demo] preparing {args.sites} sites from {args.dataset} "
          f"({'plaintext' if pki is None else 'mTLS, CA in ' + str(workdir / 'pki' / 'ca')}) ...", flush=True)
    shared = json.loads(args.model_config.read_text())
    specs, model_config = prepare_federation(args.dataset, args.sites, workdir, coord_addr, args.max_users,
                                             args.seed, max_targets_per_user=args.max_targets_per_user,
                                             max_seq_len=shared.pop("max_seq_len", 50), model_overrides=shared,
                                             enroll_address=enroll_addr if pki else "")
    for s in specs:
        print(f"[demo]   {s.site_id}: {s.users} users, {s.interactions} interactions", flush=True)
    logs = workdir / "logs"
    registry = workdir / "registry"
    procs = []
    try:
        procs.append(P.start("aggregator.main", ["--listen", agg_addr, "--registry", str(registry),
                                                 *tls("aggregator")], logs / "aggregator.log"))
        procs.append(P.start("coordinator.main", [
            "--listen", coord_addr, "--enroll-listen", enroll_addr, "--ca-dir", str(workdir / "pki" / "ca"),
            "--db", str(workdir / "coordinator.db"), "--registry", str(registry),
            "--aggregator", agg_addr, "--init-model", str(workdir / "model_config.json"),
            "--catalog", str(workdir / "catalog"),
            "--init-seed", str(args.seed), "--audit-key", str(workdir / "audit.key"),
            "--admin-token-file", str(workdir / "admin.token"), *tls("coordinator")], logs / "coordinator.log"))
        P.wait_healthy(agg_addr, transport, proc=procs[0])
        P.wait_healthy(coord_addr, transport, proc=procs[1])
        for s in specs:
            P.ctl(coord_addr, "enroll", "--site", s.site_id, "--token-file", str(s.folder / "enrollment.token"),
                  *(["--ca-file", str(s.folder / "ca.crt")] if pki else []))
            procs.append(P.start("client_agent.main", ["--config", str(s.config_path)], logs / f"{s.site_id}.log",
                                 threads=1))
        deadline = time.time() + 120
        while True:
            clients = json.loads(P.ctl(coord_addr, "--json", "clients").stdout)
            if sum(c["online"] for c in clients) == len(specs):
                break
            if time.time() > deadline:
                raise TimeoutError("not every site came online within 120 s; see the logs in " + str(logs))
            time.sleep(0.5)
        print(f"[demo] {len(specs)} sites online; running {args.rounds} rounds", flush=True)
        rounds = []
        for r in range(args.rounds):
            res = P.ctl(coord_addr, "--json", "start-round", "--wait", "--epochs", str(args.epochs), "--lr",
                        str(args.lr), "--min-sites", str(args.min_sites or len(specs)), "--seed",
                        str(args.seed + r), check=False)
            if res.returncode != 0:
                raise RuntimeError(res.stderr.strip())
            info = json.loads(res.stdout)
            rounds.append(info)
            m = info["metrics"]
            train_s = [p["train_seconds"] for p in info["participants"]]
            print(f"[demo] round {info['round_id']}: model v{info['result_version']}  "
                  f"HR@10 {m.get('hr_at_10', float('nan')):.4f}  NDCG@10 {m.get('ndcg_at_10', float('nan')):.4f}  "
                  f"wall {info['wall_seconds']:.1f}s (site training {sum(train_s):.1f}s total, "
                  f"{max(train_s):.1f}s max)", flush=True)
        models = json.loads(P.ctl(coord_addr, "--json", "models").stdout)
        serve_addr = f"127.0.0.1:{P.free_port()}"
        procs.append(P.start("serving.main", ["--listen", serve_addr, "--registry", str(registry),
                                              *tls("serving")], logs / "serving.log"))
        client = Transport.insecure() if pki is None else Transport.from_dir(pki["client"])
        P.wait_healthy(serve_addr, client, proc=procs[-1])
        inference = show_ranking_shift(serve_addr, client, workdir, args.dataset, specs[0].folder, args.seed)
        auction = run_auction(workdir / "userbehavior", tls("serving"), client, args.seed,
                              rounds=args.auction_rounds) if args.auction_rounds > 0 else None
        report = {
            "dataset": args.dataset, "sites": [s.__dict__ | {"folder": str(s.folder), "config_path": str(s.config_path)}
                                               for s in specs],
            "model_config": model_config,
            "rounds": [{"round_id": r["round_id"], "state": r["state"], "model_version": r["result_version"],
                        "wall_seconds": r["wall_seconds"], "metrics": r["metrics"],
                        "sites": {p["site_id"]: {"bytes_sent": p["bytes_sent"], "train_seconds": p["train_seconds"],
                                                 "num_samples": p["num_samples"], "metrics": p["metrics"]}
                                  for p in r["participants"]}} for r in rounds],
            "models": [{"version": m["version"], "sha256": m["sha256"], "size_bytes": m["size_bytes"],
                        "parent": m["parent"], "round": m["round"]} for m in models],
            "inference": inference,
            "auction": auction,
        }
        return report
    finally:
        P.stop(procs)


def main(argv=None) -> int:
    return cli.run("fedads-demo", lambda: _main(argv))


def _main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    started = time.time()
    try:
        report = run(args)
    except Exception as exc:  # noqa: BLE001 - one clear line for the person running the demo
        print(f"fedads-demo: error: {exc}", file=sys.stderr)
        return 1
    report["wall_seconds"] = time.time() - started
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=1))
    print(f"[demo] report written to {args.report} ({report['wall_seconds']:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
