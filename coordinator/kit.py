"""`coordinatorctl enroll`: issue a site's one-time token, safely, and optionally write the partner kit.

Order matters: every file the token goes to is created before the coordinator issues it, so a bad path
fails before anything exists server-side; a failure after issuing removes what was written, and the
error says the token is void (issuing again replaces it).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from fedads.v1 import admin_pb2 as pb
from fedads.v1 import common_pb2

# The kit's privacy setting: record-level DP-SGD at the budget docs/privacy.md measured (C = 0.3, ε = 8 over
# 10 rounds at δ = 1e-5: 0.94 of non-private HR@10 on ML-100K with an expected batch of 1,024). Site-level
# noise at any useful ε drowns the average of a few sites (the coordinator refuses such rounds).
KIT_PRIVACY = {"dp_unit": "record", "dp_clip_norm": 0.3, "dp_epsilon_budget": 8.0, "dp_delta": 1e-5,
               "dp_planned_rounds": 10}

KIT_README = """# Partner kit for site {site}

Handed to you by the federation's operator. Everything here stays on your machine; your data, user
features and private parameters never leave it (only masked model updates do).

| file | what it is |
|---|---|
| `site.toml` | the agent's settings; paths are relative to this folder |
| `enrollment.token` | a one-time token: the first start redeems it for this site's certificate (keep it secret) |
| `ca.crt` | the federation's CA certificate: the agent trusts the coordinator only if it is signed by it |
| `data/` | your event log (`events.parquet` or `events.csv`) and `data.toml`, the data manifest beside it (see below) |

Privacy: `site.toml` turns on record-level differential privacy (DP-SGD, each interaction protected,
clip norm 0.3, ε = 8 over 10 rounds at δ = 1e-5), the setting measured to keep about 0.94 of the
non-private accuracy (docs/privacy.md). Lower `dp_epsilon_budget` for stronger protection at a cost in
accuracy; to train without DP remove the `dp_*` lines (then only secure aggregation protects your updates).

Data: one row per impression with the header `user_id,ad_id,timestamp,click,conversion,value` (ids are
strings; `timestamp` integer seconds or ISO 8601; click 0/1; conversion 1 only where click = 1; value the
revenue of a conversion; the last two optional). `data/data.toml` names the files:

    events = "events.parquet"
    user_features = "users.parquet"   # optional: user_id + columns, never leaves this machine
    interaction_only = false          # true when the log holds clicked rows only

Commands, from this folder:

    client-agent check --config site.toml    # checks data/ against the federation's catalogue
    client-agent --config site.toml          # enrols once, then trains when the coordinator asks

The agent keeps its credentials, TLS key, privacy ledger and a record of every update it sent under
`state/`. The coordinator is `{coordinator}` (enrolment port `{enroll}`).
"""


def _create_private(path: Path):
    """Open a new file for the token, mode 0600, creating its folder (0700); fails before anything is issued."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "w")


def _kit_toml(site: str, coordinator: str, enroll_address: str, tls: bool) -> str:
    lines = [f"# Agent settings for {site}; paths are relative to this file's folder.",
             f'site_id = "{site}"', f'coordinator = "{coordinator}"', 'data = "data"',
             'state_dir = "state"', 'enrollment_token_file = "enrollment.token"']
    if tls:
        lines += ['ca_file = "ca.crt"', f'enroll_address = "{enroll_address}"']
    else:
        lines += ["insecure = true  # the coordinator runs without TLS: local development only"]
    lines += ['device = "auto"', "max_targets_per_user = 40",
              "# Record-level DP-SGD at the budget docs/privacy.md measured (see README.md)."]
    lines += [f"{k} = {json.dumps(v)}" for k, v in KIT_PRIVACY.items()]
    return "\n".join(lines) + "\n"


def _warn_if_live(admin, site: str) -> None:
    for c in admin.ListClients(common_pb2.Empty(), timeout=30).clients:
        if c.site_id == site and c.enrolled_at and not c.revoked:
            state = "online now" if c.online else f"last seen {c.last_seen or 'never'}"
            print(f"coordinatorctl: warning: site {site} is already enrolled ({state}); the new token lets whoever "
                  "redeems it take over the site's identity and supersedes its current certificate",
                  file=sys.stderr)


def enroll(admin, args) -> int:
    _warn_if_live(admin, args.site)
    kit = Path(args.kit) if args.kit else None
    token_path = kit / "enrollment.token" if kit else Path(args.token_file) if args.token_file else None
    written: list[Path] = []
    sink = None
    if token_path is not None:
        if kit and kit.exists() and any(kit.iterdir()):
            print(f"coordinatorctl: error: kit folder {kit} is not empty; give a new folder", file=sys.stderr)
            return 1
        try:
            sink = _create_private(token_path)
        except OSError as exc:
            print(f"coordinatorctl: error: cannot write the token to {token_path}: {exc.strerror}; nothing was "
                  "issued", file=sys.stderr)
            return 1
        written.append(token_path)
    try:
        resp = admin.CreateEnrollment(pb.CreateEnrollmentRequest(site_id=args.site), timeout=30)
    except BaseException:
        if sink is not None:
            sink.close()
            token_path.unlink(missing_ok=True)
        raise
    try:
        if sink is not None:
            with sink:
                sink.write(resp.enrollment_token + "\n")
        ca_path = kit / "ca.crt" if kit else Path(args.ca_file) if args.ca_file else None
        if ca_path is not None:
            if not resp.ca_certificate and not kit:
                print("coordinatorctl: error: the coordinator runs without TLS (--insecure): it has no CA "
                      "certificate to hand out", file=sys.stderr)
                return 1
            if resp.ca_certificate:
                ca_path.parent.mkdir(parents=True, exist_ok=True)
                ca_path.write_bytes(resp.ca_certificate)
                written.append(ca_path)
        if kit:
            coordinator = args.kit_coordinator or args.coordinator
            enroll_address = args.kit_enroll_address or f"{coordinator.rsplit(':', 1)[0]}:7001"
            (kit / "data").mkdir(exist_ok=True)
            (kit / "site.toml").write_text(_kit_toml(args.site, coordinator, enroll_address,
                                                     bool(resp.ca_certificate)))
            (kit / "README.md").write_text(KIT_README.format(site=args.site, coordinator=coordinator,
                                                             enroll=enroll_address))
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        print(f"coordinatorctl: error: {exc}; the token issued for {args.site} was not kept: run enroll again "
              "(a new token replaces it)", file=sys.stderr)
        return 1
    if args.json:
        out = {"site_id": resp.site_id}
        if kit:
            out["kit"] = str(kit)
        elif not token_path:
            out["enrollment_token"] = resp.enrollment_token
        print(json.dumps(out))
    elif kit:
        print(f"partner kit for {resp.site_id} written to {kit} (the token inside is valid once); hand the "
              "folder over as it is")
    elif token_path:
        print(f"enrollment token for {resp.site_id} written to {token_path} (valid once)")
    else:
        print(resp.enrollment_token)
    return 0
