"""Dropped sites, lost quorum and a restarted coordinator leave state and published models intact."""
from __future__ import annotations

import json
import signal
import time

from fedads.runtime.registry import ModelRegistry
from tests.helpers import registry_snapshot


def _freeze_and_kill_during_round(fed, site_id: str, min_sites: int) -> int:
    # A frozen site keeps its connection, is selected, receives the task and can never answer:
    # killing it then is a deterministic "site died mid-round".
    fed.agents[site_id].send_signal(signal.SIGSTOP)
    info = fed.ctl_json("start-round", "--min-sites", str(min_sites), "--seed", "1")
    assert len(info["participants"]) == len(fed.sites)
    time.sleep(0.5)
    fed.kill_agent(site_id)
    return info["round_id"]


def test_killed_site_round_completes_when_quorum_holds(federation_factory):
    fed = federation_factory(n_sites=3).start()
    registry = ModelRegistry(fed.registry)
    before = registry_snapshot(registry)
    round_id = _freeze_and_kill_during_round(fed, "site-02", min_sites=2)
    info = fed.wait_round(round_id)
    assert info["state"] == "COMPLETED", info["failure_reason"]
    states = {p["site_id"]: p["state"] for p in info["participants"]}
    assert states == {"site-01": "EVALUATED", "site-02": "DROPPED", "site-03": "EVALUATED"}
    assert {v: registry.manifest(v)["sha256"] for v in before} == before
    assert registry.manifest(info["result_version"])["parent_version"] == max(before)


def test_killed_site_round_fails_cleanly_when_quorum_is_lost(federation_factory):
    fed = federation_factory(n_sites=3).start()
    registry = ModelRegistry(fed.registry)
    before = registry_snapshot(registry)
    round_id = _freeze_and_kill_during_round(fed, "site-03", min_sites=3)
    info = fed.wait_round(round_id)
    assert info["state"] == "FAILED"
    assert "quorum lost" in info["failure_reason"]
    assert registry_snapshot(registry) == before
    # The survivors are still usable: a round without the dead site succeeds.
    fed.wait_online(2)
    info = json.loads(fed.ctl("--json", "start-round", "--wait", "--min-sites", "2").stdout)
    assert info["state"] == "COMPLETED"
    assert len(registry.versions()) == len(before) + 1


def test_coordinator_restart_between_rounds_keeps_state(federation_factory):
    fed = federation_factory(n_sites=3).start()
    first = json.loads(fed.ctl("--json", "start-round", "--wait", "--min-sites", "3").stdout)
    assert first["state"] == "COMPLETED"
    models_before = fed.ctl_json("models")
    clients_before = {c["site_id"] for c in fed.ctl_json("clients")}

    fed.services["coordinator"].send_signal(signal.SIGKILL)
    fed.services["coordinator"].wait()
    fed.start_coordinator()

    rounds = fed.ctl_json("rounds")
    assert [(r["round_id"], r["state"], r["result_version"]) for r in rounds] == [
        (first["round_id"], "COMPLETED", first["result_version"])]
    assert fed.ctl_json("models") == models_before
    assert {c["site_id"] for c in fed.ctl_json("clients")} == clients_before
    fed.wait_online(3)  # the agents reconnect by themselves
    second = json.loads(fed.ctl("--json", "start-round", "--wait", "--min-sites", "3").stdout)
    assert second["state"] == "COMPLETED"
    assert second["base_version"] == first["result_version"]
