"""The README's by-hand path, step by step, from a clean folder: PKI, a catalogue and event logs, services,
partner kits, check, agents, a 2-round job, a stopped third round, models, audit --verify, one client call."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from functools import partial

from deploy import processes as P
from fedads.catalog.catalog import Catalog
from fedads.runtime.tls import Transport
from tests.helpers import wait_until


def run(cwd, *argv, check=True, timeout=600):
    res = subprocess.run([sys.executable, "-m", *argv], cwd=cwd, env=P.child_env(), capture_output=True, text=True,
                         timeout=timeout)
    if check:
        assert res.returncode == 0, f"{argv}: {res.stderr}"
    return res


until = partial(wait_until, timeout=120.0)


def test_the_readme_by_hand_path(tmp_path):
    d = tmp_path
    run(d, "fedads.runtime.pki_cli", "init", "--dir", "pki")
    run(d, "fedads.datasets.cli", "convert", "ml-100k", "--out", "fed", "--sites", "2", "--max-users", "60")
    coord, enroll, agg, serve = (f"127.0.0.1:{P.free_port()}" for _ in range(4))
    procs = [P.start("aggregator.main", ["--listen", agg, "--registry", str(d / "registry"), "--tls-dir",
                                         str(d / "pki" / "aggregator")], d / "aggregator.log")]
    try:
        procs.append(P.start("coordinator.main", [
            "--listen", coord, "--enroll-listen", enroll, "--registry", str(d / "registry"), "--aggregator", agg,
            "--catalog", str(d / "fed" / "catalog"), "--init-model", str(P.REPO_ROOT / "deploy/config/model_config.json"),
            "--db", f"sqlite:///{d / 'coordinator.db'}", "--tls-dir", str(d / "pki" / "coordinator"),
            "--ca-dir", str(d / "pki" / "ca"), "--admin-token-file", str(d / "admin.token"),
            "--audit-key", str(d / "audit.key")], d / "coordinator.log"))
        operator = Transport.from_dir(d / "pki" / "operator")
        P.wait_healthy(agg, operator, proc=procs[0])
        P.wait_healthy(coord, operator, proc=procs[1])
        ctl = ("coordinator.ctl", "--coordinator", coord, "--admin-token-file", str(d / "admin.token"), "--tls-dir",
               str(d / "pki" / "operator"))
        for site in ("site-01", "site-02"):
            run(d, *ctl, "enroll", "--site", site, "--kit", f"kit-{site}", "--kit-enroll-address", enroll)
            shutil.copytree(d / "fed" / "sites" / site / "data", d / f"kit-{site}" / "data", dirs_exist_ok=True)
            check = run(d, "client_agent.main", "check", "--config", f"kit-{site}/site.toml", "--catalog",
                        "fed/catalog")
            assert "ok: the site's data can go online" in check.stdout
            procs.append(P.start("client_agent.main", ["--config", str(d / f"kit-{site}" / "site.toml")],
                                 d / f"{site}.log"))
        until(lambda: json.loads(run(d, *ctl, "status", "--json").stdout)["sites_online"] == 2, what="2 sites online")

        job = run(d, *ctl, "run", "--rounds", "2", "--min-sites", "2", "--batch-size", "1024", "--lr", "0.003",
                  "--wait", "--json")
        events = [json.loads(line) for line in job.stdout.splitlines()]
        assert [e["state"] for e in events if e["kind"] == "round_finished"] == ["COMPLETED", "COMPLETED"]
        assert events[-1]["job_state"] == "COMPLETED"

        started = json.loads(run(d, *ctl, "start-round", "--min-sites", "2", "--batch-size", "1024", "--json").stdout)
        run(d, *ctl, "stop-round", str(started["round_id"]))
        stopped = until(lambda: (r := json.loads(run(d, *ctl, "round", str(started["round_id"]), "--json").stdout))
                        ["state"] == "FAILED" and r, what="the stopped round to fail")
        assert "stopped" in stopped["failure_reason"]

        models = json.loads(run(d, *ctl, "models", "--json").stdout)
        assert [m["version"] for m in models] == [1, 2, 3] and "hr_at_10" in models[-1]["metrics"]
        assert run(d, *ctl, "audit", "--verify").returncode == 0

        procs.append(P.start("serving.main", ["--listen", serve, "--registry", str(d / "registry"), "--tls-dir",
                                              str(d / "pki" / "serving"), "--audit-public-key", str(d / "audit.pub")],
                             d / "serving.log"))
        P.wait_healthy(serve, operator, proc=procs[-1])
        ads = Catalog.load(d / "fed" / "catalog").ad_ids()[:3]
        ranked = json.loads(run(d, "fedads.serve_cli", "rank", "--address", serve, "--tls-dir",
                                str(d / "pki" / "client"), "--user", "u-1", "--candidates", ",".join(ads), "--bids",
                                "1,2,3", "--objective", "ecpm_cpc", "--json").stdout)
        assert ranked["model_version"] == 3 and sorted(a["ad_id"] for a in ranked["ads"]) == sorted(ads)
    finally:
        P.stop(procs)
