"""kill -9 of the coordinator or the aggregator mid-round: state stays consistent, nothing half-published,
and the next round succeeds."""
from __future__ import annotations

import json
import signal
from functools import partial

from fedads.runtime.registry import ModelRegistry
from tests.helpers import registry_snapshot, wait_until


_wait = partial(wait_until, timeout=60.0)


def test_coordinator_killed_mid_round(federation_factory):
    fed = federation_factory(n_sites=3).start()
    registry = ModelRegistry(fed.registry)
    before = registry_snapshot(registry)
    fed.agents["site-03"].send_signal(signal.SIGSTOP)  # keeps the round in its training stage
    info = fed.ctl_json("start-round", "--min-sites", "3", "--stage-deadline-s", "4")
    _wait(lambda: sum(p["state"] == "UPLOADED" for p in fed.ctl_json("round", str(info["round_id"]))["participants"]) == 2)
    fed.services["coordinator"].send_signal(signal.SIGKILL)
    fed.services["coordinator"].wait()
    fed.start_coordinator()
    r = fed.ctl_json("round", str(info["round_id"]))
    assert r["state"] == "FAILED" and "coordinator restarted" in r["failure_reason"]
    assert registry_snapshot(registry) == before
    fed.agents["site-03"].send_signal(signal.SIGCONT)
    fed.wait_online(3)
    nxt = json.loads(fed.ctl("--json", "start-round", "--wait", "--min-sites", "3").stdout)
    assert nxt["state"] == "COMPLETED" and nxt["base_version"] == max(before)
    records = json.loads(fed.ctl("--json", "audit", "--verify").stdout)
    assert any(rec["body"]["kind"] == "round_failed" and rec["body"]["round_id"] == info["round_id"]
               for rec in records)


def test_aggregator_killed_holding_masked_inputs(federation_factory):
    fed = federation_factory(n_sites=3).start()
    registry = ModelRegistry(fed.registry)
    before = registry_snapshot(registry)
    fed.agents["site-03"].send_signal(signal.SIGSTOP)
    info = fed.ctl_json("start-round", "--min-sites", "2", "--stage-deadline-s", "4")
    _wait(lambda: sum(p["state"] == "UPLOADED" for p in fed.ctl_json("round", str(info["round_id"]))["participants"]) == 2)
    fed.services["aggregator"].send_signal(signal.SIGKILL)  # it holds two masked inputs, no sum yet
    fed.services["aggregator"].wait()
    fed.kill_agent("site-03")  # the round can now move on to aggregation, which has nobody to talk to
    r = fed.wait_round(info["round_id"])
    assert r["state"] == "FAILED" and r["failure_reason"]
    assert registry_snapshot(registry) == before
    assert not list(fed.registry.glob(".staging-*"))
    fed.start_aggregator()
    nxt = json.loads(fed.ctl("--json", "start-round", "--wait", "--min-sites", "2").stdout)
    assert nxt["state"] == "COMPLETED" and len(registry.versions()) == len(before) + 1


def test_site_killed_mid_upload(federation_factory):
    from deploy import processes as P

    fed = federation_factory(n_sites=3).start()
    registry = ModelRegistry(fed.registry)
    before = registry_snapshot(registry)
    fed.kill_agent("site-03")
    _wait(lambda: not {c["site_id"]: c["online"] for c in fed.ctl_json("clients")}["site-03"])
    spec = next(s for s in fed.sites if s.site_id == "site-03")
    marker = fed.workdir / "site-03.stalled"
    log = fed.workdir / "site-03-stalled.log"
    fed.agents["site-03"] = P.start("tests.stalled_site", ["--config", str(spec.config_path), "--marker", str(marker)],
                                    log, threads=1)
    _wait(lambda: log.exists() and "connected to coordinator" in log.read_text())
    fed.wait_online(3)
    info = fed.ctl_json("start-round", "--min-sites", "2", "--stage-deadline-s", "6")
    _wait(marker.exists, timeout=120)  # header and two data chunks are on the aggregator's open stream
    fed.agents["site-03"].send_signal(signal.SIGKILL)
    fed.agents["site-03"].wait()
    r = fed.wait_round(info["round_id"])
    parts = {p["site_id"]: p for p in r["participants"]}
    assert r["state"] == "COMPLETED", r["failure_reason"]
    assert parts["site-03"]["state"] != "UPLOADED" and parts["site-03"]["upload_sha256"] == ""
    assert {s for s, p in parts.items() if p["state"] in ("UPLOADED", "EVALUATED")} == {"site-01", "site-02"}
    manifest = registry.manifest(r["result_version"])
    assert sorted(manifest["extras"]["sites"]) == ["site-01", "site-02"]  # the partial upload contributed nothing
    assert len(registry.versions()) == len(before) + 1 and not list(fed.registry.glob(".staging-*"))
    fed.start_agent("site-03")  # the real agent, same state folder: it resumes
    fed.wait_online(3)
    nxt = json.loads(fed.ctl("--json", "start-round", "--wait", "--min-sites", "3").stdout)
    assert nxt["state"] == "COMPLETED" and nxt["base_version"] == r["result_version"]
