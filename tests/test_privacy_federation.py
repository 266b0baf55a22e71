"""DP end to end: sites spend ε per round, the coordinator records it, a site at its budget refuses."""
from __future__ import annotations

import json

import pytest

from privacy.dp.accountant import epsilon_for

DP = "dp_clip_norm = 1.0\ndp_noise_multiplier = 1.0\ndp_delta = 1e-5\n"


def test_site_at_budget_refuses_and_round_proceeds_with_quorum(federation_factory):
    one_round = epsilon_for([(1.0, 1.0)], 1e-5)
    fed = federation_factory(n_sites=3, site_config={
        "*": DP + "dp_epsilon_budget = 100.0",
        "site-03": DP + f"dp_epsilon_budget = {one_round * 1.2:.6f}",  # room for exactly one round
    }).start()
    first = json.loads(fed.ctl("--json", "start-round", "--wait", "--accept-noise", "--min-sites", "3").stdout)
    assert first["state"] == "COMPLETED"
    for p in first["participants"]:
        assert p["epsilon_spent"] == pytest.approx(one_round, rel=1e-6) and p["noise_multiplier"] == 1.0

    second = json.loads(fed.ctl("--json", "start-round", "--wait", "--accept-noise", "--min-sites", "2").stdout)
    assert second["state"] == "COMPLETED"
    states = {p["site_id"]: p for p in second["participants"]}
    assert states["site-03"]["state"] == "REFUSED" and "budget exhausted" in states["site-03"]["error"]
    assert states["site-03"]["epsilon_spent"] == pytest.approx(one_round, rel=1e-6)
    for site in ("site-01", "site-02"):
        assert states[site]["state"] == "EVALUATED"
        assert states[site]["epsilon_spent"] == pytest.approx(epsilon_for([(1.0, 1.0)] * 2, 1e-5), rel=1e-6)

    clients = {c["site_id"]: c for c in fed.ctl_json("clients")}
    assert clients["site-03"]["epsilon_budget"] == pytest.approx(one_round * 1.2, rel=1e-5)
    table = fed.ctl("clients").stdout
    assert "left)" in table  # spent/budget (remaining) shown to operators
    status = fed.ctl("status").stdout
    assert "privacy budgets" in status and "site-03" in status
    # With quorum 3 the refusal fails the round cleanly instead.
    third = fed.ctl("--json", "start-round", "--wait", "--accept-noise", "--min-sites", "3", check=False)
    assert third.returncode == 1 and "quorum lost" in third.stderr

    # The signed round log tells an auditor the same story, verified with the public key alone.
    records = json.loads(fed.ctl("--json", "audit", "--verify", "--public-key",
                                 str(fed.workdir / "audit.pub")).stdout)
    by_round = {}
    for r in records:
        by_round.setdefault(r["body"]["round_id"], []).append(r["body"])
    kinds2 = [b["kind"] for b in by_round[second["round_id"]]]
    assert kinds2[0] == "round_started" and kinds2[-1] == "round_completed"
    assert {"stage_closed", "model_published", "site_refused", "epsilon_spent"} <= set(kinds2)
    spent = {b["payload"]["site"]: b["payload"]["epsilon"] for b in by_round[second["round_id"]]
             if b["kind"] == "epsilon_spent"}
    assert set(spent) == {"site-01", "site-02"}
    published = next(b for b in by_round[second["round_id"]] if b["kind"] == "model_published")
    assert published["payload"]["version"] == second["result_version"]
    assert by_round[3][-1]["kind"] == "round_failed" and "quorum lost" in by_round[3][-1]["payload"]["reason"]
    assert sum(b["kind"] == "site_enrolled" for b in by_round[0]) == 3
    # Operators see the same through Prometheus.
    scraped = fed.metrics()
    assert 'fedads_rounds_total{state="COMPLETED"} 2.0' in scraped
    assert 'fedads_rounds_total{state="FAILED"} 1.0' in scraped
    assert f'fedads_site_epsilon_spent{{site="site-01"}} {spent["site-01"]}' in scraped
    assert 'fedads_site_dropouts_total{reason="refused"} 2.0' in scraped


def test_record_level_dp_sgd_sites_spend_their_calibrated_budget(federation_factory):
    record = 'dp_unit = "record"\ndp_clip_norm = 1.0\ndp_delta = 1e-5\ndp_epsilon_budget = 6.0\ndp_planned_rounds = 2\n'
    fed = federation_factory(n_sites=3, site_config={"*": record}).start()
    info = json.loads(fed.ctl("--json", "start-round", "--wait", "--accept-noise", "--min-sites", "3", "--batch-size", "32").stdout)
    assert info["state"] == "COMPLETED"
    for p in info["participants"]:
        site = next(s for s in fed.sites if s.site_id == p["site_id"])
        ledger = json.loads((site.folder / "state" / "privacy.json").read_text())
        [(sigma, q, steps)] = ledger["history"]
        assert 0 < q < 1 and steps == round(1 / q) and sigma == pytest.approx(p["noise_multiplier"])
        assert p["epsilon_spent"] == pytest.approx(epsilon_for([(sigma, q, steps)], 1e-5), rel=1e-6)
        # two planned rounds spend the budget: one round spends part of it, two exactly all of it
        assert 0 < p["epsilon_spent"] < 6.0
        assert epsilon_for([(sigma, q, steps)] * 2, 1e-5) == pytest.approx(6.0, rel=1e-3)
