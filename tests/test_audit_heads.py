"""The round log's head lives outside the database: signed into every model manifest and into exported head
files. Cutting the newest records (live, or from an export) fails `audit --verify` naming the first missing
record, a coordinator refuses to grow a cut log, and a version not signed by the coordinator is refused by
serving and by the sites."""
from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
from functools import partial

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from deploy import processes as P
from fedads.runtime.hashing import sha256_hex
from fedads.runtime.registry import ModelRegistry
from tests.helpers import wait_until


_wait = partial(wait_until, timeout=120.0)


def _verify(fed, *extra):
    return fed.ctl("audit", "--verify", *extra, check=False)


def _delete_records_from(fed, seq: int) -> None:
    with sqlite3.connect(fed.workdir / "coordinator.db", timeout=30) as db:
        db.execute("DELETE FROM audit_records WHERE seq >= ?", (seq,))


def test_cut_log_is_named_by_the_signed_heads_and_a_coordinator_refuses_to_grow_it(federation_factory):
    fed = federation_factory(n_sites=2).start()
    info = json.loads(fed.ctl("--json", "start-round", "--wait", "--min-sites", "2").stdout)
    assert info["state"] == "COMPLETED"
    registry = ModelRegistry(fed.registry)
    head = registry.manifest(info["result_version"])["audit_head"]  # the record that published it
    assert _verify(fed).returncode == 0
    export, head_file = fed.workdir / "audit.jsonl", fed.workdir / "audit.head"
    fed.ctl("audit", "--export", str(export), "--export-head", str(head_file))
    lines = export.read_text().splitlines()
    assert len(lines) > head["seq"] + 1  # round_completed and more follow the publication

    # An export whose tail was cut: the registry's manifests (or the exported head) say what is missing.
    cut = fed.workdir / "cut.jsonl"
    cut.write_text("\n".join(lines[:head["seq"]]) + "\n")
    pub = str(fed.workdir / "audit.pub")
    offline = [sys.executable, "-m", "coordinator.ctl", "audit", "--verify", "--file", str(cut), "--public-key", pub]
    run = lambda *a: subprocess.run([*offline, *a], capture_output=True, text=True, env=P.child_env(), cwd=P.REPO_ROOT)
    assert run().returncode == 0  # the chain alone cannot tell
    res = run("--registry", str(fed.registry))
    assert res.returncode == 1 and f"record {head['seq']}: missing" in res.stderr, res.stderr
    res = run("--head-file", str(head_file))
    assert res.returncode == 1 and f"record {head['seq']}: missing" in res.stderr, res.stderr
    res = run("--expect-head", f"{head['seq']}:{head['hash']}")
    assert res.returncode == 1 and f"record {head['seq']}: missing" in res.stderr
    res = run("--expect-head", "3:nothex")
    assert res.returncode == 1 and "SEQ:HASH" in res.stderr and "Traceback" not in res.stderr

    # Live: the newest record deleted from the database. Only the exported head knows it existed.
    _delete_records_from(fed, len(lines) - 1)
    res = _verify(fed, "--head-file", str(head_file))
    assert res.returncode == 1 and f"record {len(lines) - 1}: missing" in res.stderr, res.stderr
    # Down to the publication itself: the model manifest names it.
    _delete_records_from(fed, head["seq"])
    res = _verify(fed)
    assert res.returncode == 1 and f"record {head['seq']}: missing" in res.stderr, res.stderr

    fed.services["coordinator"].send_signal(signal.SIGKILL)
    fed.services["coordinator"].wait()
    res = subprocess.run([sys.executable, "-m", "coordinator.main", *fed.coordinator_argv()], capture_output=True,
                         text=True, env=P.child_env(1), cwd=P.REPO_ROOT, timeout=120)
    refusal = [x for x in res.stderr.splitlines() if x.strip() and not x.startswith("{")]
    assert res.returncode == 2 and len(refusal) == 1 and "audit log truncated" in refusal[0], res.stderr
    assert f"record {head['seq']} is missing" in refusal[0]


def _forge(registry: ModelRegistry, version: int, target: int) -> None:
    """Write `target` by hand from `version`: other weights, a correct sha256, the old signature."""
    src, dst = registry.root / f"v{version:06d}", registry.root / f"v{target:06d}"
    manifest = json.loads((src / "manifest.json").read_text())
    tensors = {k: v.copy() for k, v in st_load((src / "model.safetensors").read_bytes()).items()}
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + np.float32(0.5)
    data = st_save(tensors)
    tmp = registry.root / f".forge-{target}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    (tmp / "model.safetensors").write_bytes(data)
    manifest.update(version=target, sha256=sha256_hex(data), size_bytes=len(data))
    (tmp / "manifest.json").write_text(json.dumps(manifest))
    if dst.exists():
        shutil.rmtree(dst)
    tmp.rename(dst)


def test_versions_the_coordinator_did_not_sign_are_refused_by_serving_and_sites(federation_factory):
    from fedads.runtime.server import channel
    from fedads.v1 import serving_pb2 as spb
    from fedads.v1 import serving_pb2_grpc

    fed = federation_factory(n_sites=2).start()
    info = json.loads(fed.ctl("--json", "start-round", "--wait", "--min-sites", "2").stdout)
    assert info["state"] == "COMPLETED"
    good = info["result_version"]
    registry = ModelRegistry(fed.registry)
    _forge(registry, good, good + 1)  # a new version by hand, sha256 recomputed

    port = P.free_port()
    fed.services["serving"] = P.start("serving.main", [
        "--listen", f"127.0.0.1:{port}", "--registry", str(fed.registry),
        "--audit-public-key", str(fed.workdir / "audit.pub"), *fed.flags("serving")], fed.workdir / "serving.log")
    P.wait_healthy(f"127.0.0.1:{port}", fed.transport, proc=fed.services["serving"])
    stub = serving_pb2_grpc.ServingServiceStub(channel(f"127.0.0.1:{port}", fed.transport))
    resp = stub.Predict(spb.PredictRequest(user_id="u", candidates=first_ads(fed)), timeout=30)
    assert resp.model_version == good  # the hand-written newer version is not served
    log = (fed.workdir / "serving.log").read_text()
    assert f'"version": {good + 1}' in log and "signature does not match" in log

    # The sites: the newest committed version rewritten in place, weights and sha256 consistent. Restarted
    # agents (which hold no copy of it yet) download it for the next round and refuse it.
    _forge(registry, good, good)
    for site in list(fed.agents):
        fed.kill_agent(site)
    _wait(lambda: not any(c["online"] for c in fed.ctl_json("clients")))  # the old streams are gone
    for site in ("site-01", "site-02"):
        fed.start_agent(site)
    fed.wait_online(2)
    nxt = json.loads(fed.ctl("--json", "start-round", "--wait", "--min-sites", "2", check=False).stdout)
    assert nxt["state"] == "FAILED" and nxt["base_version"] == good
    errors = [p["error"] for p in nxt["participants"]]
    assert len(errors) == 2 and all("signature does not match" in e for e in errors), errors
    assert registry.versions()[-1] == good + 1 and not nxt["result_version"]



def first_ads(fed, n: int = 2) -> list:
    """Candidates naming the federation catalogue's first ads."""
    from fedads.catalog.catalog import Catalog
    from fedads.v1 import serving_pb2 as spb

    return [spb.Candidate(ad_id=a) for a in Catalog.load(fed.workdir / "catalog").ad_ids()[:n]]
