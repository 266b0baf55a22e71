"""`coordinatorctl`: operate a FedAds coordinator (rounds, sites, models)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import grpc

from coordinator.admin_auth import admin_channel, read_token
from coordinator.ctl_jobs import add_job_commands, follow
from coordinator.ctl_round_flags import add_round_flags, round_config
from fedads.runtime import cli
from fedads.runtime.server import channel
from fedads.runtime.tls import Transport, TransportError, add_tls_flags, transport_from_args
from fedads.v1 import admin_pb2 as pb
from fedads.v1 import admin_pb2_grpc, common_pb2, registry_pb2, registry_pb2_grpc

TERMINAL = ("COMPLETED", "FAILED")


def _round_dict(r: pb.RoundInfo) -> dict:
    return {"round_id": r.round_id, "state": r.state, "base_version": r.base_version,
            "result_version": r.result_version, "failure_reason": r.failure_reason, "created_at": r.created_at,
            "finished_at": r.finished_at, "wall_seconds": round(r.wall_seconds, 3),
            "config": json.loads(r.config_json or "{}"), "metrics": json.loads(r.metrics_json or "{}"),
            "participants": [{"site_id": p.site_id, "state": p.state, "num_samples": p.num_samples,
                              "train_seconds": round(p.train_seconds, 3), "bytes_sent": p.bytes_sent,
                              "upload_sha256": p.upload_sha256, "error": p.error,
                              "epsilon_spent": p.epsilon_spent, "epsilon_budget": p.epsilon_budget,
                              "noise_multiplier": p.noise_multiplier,
                              "metrics": json.loads(p.metrics_json or "{}")}
                             for p in r.participants]}


def _table(rows: list[dict], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def _fmt_metric(metrics: dict, key: str) -> str:
    return f"{metrics[key]:.4f}" if key in metrics else "-"


def _fmt_eps(p: dict) -> str:
    """ε spent / budget (remaining), or '-' for a site without differential privacy."""
    if not p.get("epsilon_budget"):
        return "-"
    left = p["epsilon_budget"] - p["epsilon_spent"]
    return f"{p['epsilon_spent']:.2f}/{p['epsilon_budget']:.2f} ({left:.2f} left)"


def _round_rows(rounds: list[dict]) -> list[dict]:
    return [{"round": r["round_id"], "state": r["state"], "base": r["base_version"],
             "model": r["result_version"] or "-", "sites": len(r["participants"]),
             "uploaded": sum(p["state"] in ("UPLOADED", "EVALUATED", "EVAL_FAILED") for p in r["participants"]),
             "wall_s": f"{r['wall_seconds']:.1f}", "hr@10": _fmt_metric(r["metrics"], "hr_at_10"),
             "ndcg@10": _fmt_metric(r["metrics"], "ndcg_at_10"),
             "max_eps": max((f"{p['epsilon_spent']:.2f}" for p in r["participants"] if p.get("epsilon_budget")),
                            default="-"),
             "reason": r["failure_reason"][:60]}
            for r in rounds]


ROUND_COLUMNS = ["round", "state", "base", "model", "sites", "uploaded", "wall_s", "hr@10", "ndcg@10", "max_eps",
                 "reason"]


def _print_round(r: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(r, indent=1))
        return
    print(_table(_round_rows([r]), ROUND_COLUMNS))
    print()
    print(_table([{"site": p["site_id"], "state": p["state"], "samples": p["num_samples"],
                   "train_s": p["train_seconds"], "bytes_sent": p["bytes_sent"],
                   "hr@10": _fmt_metric(p["metrics"], "hr_at_10"), "epsilon": _fmt_eps(p),
                   "error": p["error"][:60]} for p in r["participants"]],
                 ["site", "state", "samples", "train_s", "bytes_sent", "hr@10", "epsilon", "error"]))


def _out_of_range(args) -> str:
    """The first integer setting its RoundConfig field cannot hold (building the message would raise)."""
    if not 0 <= args.seed < 2 ** 63:
        return f"--seed {args.seed} must lie in 0..2^63-1"
    for flag in ("sites", "min_sites", "epochs", "batch_size", "negatives", "personalise_epochs", "local_steps"):
        value = getattr(args, flag)
        if not -2 ** 31 <= value < 2 ** 31:
            return f"--{flag.replace('_', '-')} {value} is out of range"
    return ""


def cmd_start_round(admin, args) -> int:
    bad = _out_of_range(args)
    if bad:
        print(f"coordinatorctl: error: {bad}", file=sys.stderr)
        return 2
    info = admin.StartRound(pb.StartRoundRequest(config=round_config(args)), timeout=60)
    if not args.wait:
        _print_round(_round_dict(info), args.json)
        return 0
    # --json keeps its one-document contract (the finished round); `watch --json` streams progress events.
    if not args.json:
        follow(admin, pb.WatchRequest(round_id=info.round_id), False)
    else:
        for _ in admin.Watch(pb.WatchRequest(round_id=info.round_id)):
            pass
    info = admin.GetRound(pb.GetRoundRequest(round_id=info.round_id), timeout=30)
    _print_round(_round_dict(info), args.json)
    if info.state == "FAILED":
        print(f"coordinatorctl: round {info.round_id} failed: {info.failure_reason}", file=sys.stderr)
        return 1
    return 0


def cmd_status(admin, args) -> int:
    s = admin.GetStatus(common_pb2.Empty(), timeout=30)
    out = {"latest_version": s.latest_version, "sites_enrolled": s.sites_enrolled, "sites_online": s.sites_online,
           "active_round": _round_dict(s.active_round) if s.active_round.round_id else None,
           "last_round": _round_dict(s.last_round) if s.last_round.round_id else None}
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"latest model version: {s.latest_version}")
    print(f"sites: {s.sites_online} online of {s.sites_enrolled} enrolled")
    budgets = [c for c in admin.ListClients(common_pb2.Empty(), timeout=30).clients if c.epsilon_budget]
    if budgets:
        print("privacy budgets (ε spent/budget):")
        print(_table([{"site": c.site_id, "epsilon": _fmt_eps({"epsilon_spent": c.epsilon_spent,
                                                              "epsilon_budget": c.epsilon_budget})}
                      for c in budgets], ["site", "epsilon"]))
    for label in ("active_round", "last_round"):
        if out[label]:
            print(f"{label.replace('_', ' ')}:")
            print(_table(_round_rows([out[label]]), ROUND_COLUMNS))
    return 0


def cmd_rounds(admin, args) -> int:
    rounds = [_round_dict(r) for r in admin.ListRounds(pb.ListRoundsRequest(limit=args.limit), timeout=30).rounds]
    print(json.dumps(rounds, indent=1) if args.json else _table(_round_rows(rounds), ROUND_COLUMNS))
    return 0


def cmd_round(admin, args) -> int:
    _print_round(_round_dict(admin.GetRound(pb.GetRoundRequest(round_id=args.round_id), timeout=30)), args.json)
    return 0


def cmd_clients(admin, args) -> int:
    clients = [{"site_id": c.site_id, "online": c.online, "revoked": c.revoked, "enrolled_at": c.enrolled_at,
                "last_seen": c.last_seen, "num_samples": c.num_samples, "epsilon_spent": c.epsilon_spent,
                "epsilon_budget": c.epsilon_budget}
               for c in admin.ListClients(common_pb2.Empty(), timeout=30).clients]
    if args.json:
        print(json.dumps(clients, indent=1))
    else:
        rows = [{**c, "epsilon": _fmt_eps(c)} for c in clients]
        print(_table(rows, ["site_id", "online", "revoked", "num_samples", "epsilon", "enrolled_at", "last_seen"]))
    return 0


def cmd_models(admin, args) -> int:
    # The served versions are the registry's (quarantined ones are named on stderr, so --json stays the served
    # list); their metrics come from the coordinator's SQL, the store of record (manifests are signed at publication).
    listing = args.registry_stub.ListModels(registry_pb2.ListModelsRequest(), timeout=30)
    served = {m.version for m in listing.models}
    models = [{"version": m.version, "parent": m.parent_version, "round": m.round_id, "sha256": m.sha256,
               "size_bytes": m.size_bytes, "created_at": m.created_at, "metrics": json.loads(m.metrics_json or "{}")}
              for m in admin.ListModelVersions(common_pb2.Empty(), timeout=30).models if m.version in served]
    for line in listing.quarantined:
        print(f"coordinatorctl: quarantined {line}", file=sys.stderr)
    if args.json:
        print(json.dumps(models, indent=1))
    else:
        rows = [{**m, "sha256": m["sha256"][:16], "hr@10": _fmt_metric(m["metrics"], "hr_at_10"),
                 "ndcg@10": _fmt_metric(m["metrics"], "ndcg_at_10")} for m in models]
        print(_table(rows, ["version", "parent", "round", "sha256", "size_bytes", "hr@10", "ndcg@10", "created_at"]))
    return 0


def cmd_enroll(admin, args) -> int:
    from coordinator.kit import enroll

    return enroll(admin, args)


def cmd_audit(admin, args) -> int:
    from coordinator.audit import verify

    if args.file:
        records = [json.loads(line) for line in Path(args.file).read_text().splitlines() if line.strip()]
    else:
        records = [{"body": json.loads(r.body_json), "hash": r.hash, "signature": r.signature}
                   for r in admin.ExportAudit(pb.ExportAuditRequest(), timeout=60)]
    if args.verify:
        if args.public_key:
            key = Path(args.public_key).read_text() if Path(args.public_key).exists() else args.public_key
        elif args.file:
            print("coordinatorctl: error: verifying a file needs --public-key", file=sys.stderr)
            return 2
        else:
            key = admin.GetAuditPublicKey(common_pb2.Empty(), timeout=30).ed25519_hex
        ok, bad, reason = verify(records, key)
        if ok:
            ok, reason = _check_heads(records, key, args)
        if not ok:
            print(f"coordinatorctl: audit: FAILED at {reason}", file=sys.stderr)
            return 1
    shown = [r for r in records if not args.round or r["body"]["round_id"] == args.round]
    if args.export:
        Path(args.export).write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in shown))
    if args.export_head:
        from coordinator.audit_heads import head_of

        Path(args.export_head).write_text(json.dumps(head_of(records)) + "\n")
    if args.json:
        print(json.dumps(shown, indent=1))
    else:
        print(_table([{"index": r["body"]["index"], "round": r["body"]["round_id"] or "-", "kind": r["body"]["kind"],
                       "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r["body"]["time"])),
                       "details": json.dumps(r["body"]["payload"], sort_keys=True)[:90]} for r in shown],
                     ["index", "round", "kind", "time", "details"]))
    if args.verify and not args.json:
        print(f"verified: {len(records)} records, chain and signatures intact")
    return 0


def _check_heads(records: list[dict], key: str, args) -> tuple[bool, str]:
    """The chain against the newest signed heads found: the registry's manifests, a head file, --expect-head."""
    from coordinator import audit_heads
    from fedads.runtime.registry import manifest_from_proto

    try:
        heads = [("--expect-head", audit_heads.parse_expect(h)) for h in args.expect_head]
        heads += [(f"head file {f}", audit_heads.read_head_file(f, key)) for f in args.head_file]
        if args.registry:
            manifests = audit_heads.registry_manifests(args.registry)
        elif args.file:
            manifests = []  # offline: only the heads given on the command line
        else:
            manifests = [manifest_from_proto(m) for m in
                         args.registry_stub.ListModels(registry_pb2.ListModelsRequest(), timeout=30).models]
        heads += audit_heads.manifest_heads(manifests, key)
    except audit_heads.HeadError as exc:
        return False, str(exc)
    return audit_heads.check(records, heads)


def cmd_revoke(admin, args) -> int:
    info = admin.RevokeClient(pb.RevokeClientRequest(site_id=args.site), timeout=30)
    print(json.dumps({"site_id": info.site_id, "revoked": True}) if args.json else f"site {info.site_id} revoked")
    return 0


def _bind(fn):
    return lambda admin, args: fn(admin, args, _table)


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser("coordinatorctl", "Operate a FedAds coordinator.")
    p.add_argument("--coordinator", default=os.environ.get("FEDADS_COORDINATOR", "127.0.0.1:7000"),
                   help="coordinator address (env FEDADS_COORDINATOR)")
    p.add_argument("--admin-token-file", default=os.environ.get("FEDADS_ADMIN_TOKEN_FILE", "admin.token"),
                   help="the coordinator's admin token (env FEDADS_ADMIN_TOKEN_FILE)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_tls_flags(p)
    sub = cli.subparsers(p, json_flag=True, dest="command", required=True)

    s = sub.add_parser("start-round", help="select sites and run one training round")
    add_round_flags(s)
    s.add_argument("--wait", action="store_true", help="show progress until the round ends; exit 1 if it failed")
    s.set_defaults(fn=cmd_start_round)
    sub.add_parser("status", help="models, sites and the current round").set_defaults(fn=cmd_status)
    s = sub.add_parser("rounds", help="list recent rounds")
    s.add_argument("--limit", type=int, default=20, help="newest rounds to show")
    s.set_defaults(fn=cmd_rounds)
    s = sub.add_parser("round", help="show one round with its participants")
    s.add_argument("round_id", type=int, nargs="?", default=0, help="round id (0: newest)")
    s.set_defaults(fn=cmd_round)
    sub.add_parser("clients", help="list enrolled sites").set_defaults(fn=cmd_clients)
    sub.add_parser("models", help="list published model versions").set_defaults(fn=cmd_models)
    s = sub.add_parser("enroll", help="issue a one-time enrolment token for a site (or a whole partner kit)")
    s.add_argument("--site", required=True)
    s.add_argument("--token-file", help="write the token to this file (mode 0600) instead of printing it")
    s.add_argument("--ca-file", help="write the federation CA certificate the site pins while enrolling (TLS)")
    s.add_argument("--kit", help="write a partner kit folder: site.toml, the token, ca.crt and a README")
    s.add_argument("--kit-coordinator", default="",
                   help="coordinator address the site dials (default: --coordinator)")
    s.add_argument("--kit-enroll-address", default="",
                   help="the coordinator's enrolment port as the site reaches it (default: its host, port 7001)")
    s.set_defaults(fn=cmd_enroll)
    s = sub.add_parser("audit", help="print, verify and export the signed round log")
    s.add_argument("--round", type=int, default=0, help="only this round's records (0: all)")
    s.add_argument("--verify", action="store_true", help="check hash chain and signatures; exit 1 naming the first "
                                                         "bad record")
    s.add_argument("--public-key", default="", help="coordinator audit public key (hex or a .pub file); "
                                                    "empty: ask the coordinator")
    s.add_argument("--export", default="", help="write the records shown as JSON lines")
    s.add_argument("--file", default="", help="read an exported JSON-lines log instead of asking the coordinator")
    s.add_argument("--expect-head", action="append", default=[], metavar="SEQ:HASH",
                   help="with --verify: the log must hold this record (repeatable)")
    s.add_argument("--head-file", action="append", default=[],
                   help="with --verify: a head written earlier by --export-head (repeatable)")
    s.add_argument("--registry", default="",
                   help="with --verify: a registry folder whose signed manifests name heads (default: the "
                        "coordinator's registry, or none with --file)")
    s.add_argument("--export-head", default="", help="write the newest record's signed head to this file")
    s.set_defaults(fn=cmd_audit)
    s = sub.add_parser("revoke", help="revoke a site: its next call is refused")
    s.add_argument("--site", required=True)
    s.set_defaults(fn=cmd_revoke)
    add_job_commands(sub, _bind)
    return p


def main(argv=None) -> int:
    return cli.run("coordinatorctl", lambda: _main(argv))


def _main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    offline = args.command == "audit" and args.file
    try:
        transport = Transport.insecure() if offline else transport_from_args(args)
    except TransportError as exc:
        print(f"coordinatorctl: error: {exc}", file=sys.stderr)
        return 2
    ch = channel(args.coordinator, transport)
    admin = admin_pb2_grpc.AdminServiceStub(admin_channel(ch, read_token(args.admin_token_file)))
    args.registry_stub = registry_pb2_grpc.ModelRegistryServiceStub(ch)
    try:
        return args.fn(admin, args)
    except grpc.RpcError as exc:
        detail = exc.details() or exc.code().name
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            detail = f"coordinator at {args.coordinator} is unreachable ({detail})"
        elif exc.code() == grpc.StatusCode.UNAUTHENTICATED and not Path(args.admin_token_file).exists():
            detail += (f"; there is no admin token at {Path(args.admin_token_file).resolve()}: pass "
                       "--admin-token-file (or FEDADS_ADMIN_TOKEN_FILE) with the path the coordinator logged at start-up")
        print(f"coordinatorctl: error: {exc.code().name}: {detail}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
