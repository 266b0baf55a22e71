"""One instance per role (DESIGN §9): no server shares its port, and one coordinator per database."""
from __future__ import annotations

import subprocess
import sys

from deploy import processes as P


def _run(module: str, argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *argv], capture_output=True, text=True,
                          env=P.child_env(1), cwd=P.REPO_ROOT, timeout=120)


def _one_line_refusal(res: subprocess.CompletedProcess, words: str) -> None:
    assert res.returncode == 2, res.stderr
    # stderr also carries the service's structured (JSON) log; the refusal is the one line a person reads.
    lines = [x for x in res.stderr.splitlines() if x.strip() and not x.startswith("{")]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in res.stderr, res.stderr


def test_second_aggregator_on_a_used_port_is_refused(federation_factory):
    fed = federation_factory(n_sites=2)
    fed.start_aggregator()
    res = _run("aggregator.main", ["--listen", fed.aggregator, "--registry", str(fed.registry),
                                   *fed.flags("aggregator")])
    _one_line_refusal(res, f"cannot listen on {fed.aggregator}")
    P.wait_healthy(fed.aggregator, fed.transport, proc=fed.services["aggregator"], timeout=10)


def test_second_coordinator_is_refused_by_port_and_by_database(federation_factory):
    fed = federation_factory(n_sites=2)
    fed.start_aggregator()
    fed.start_coordinator()
    other = f"127.0.0.1:{P.free_port()}"
    other_enroll = f"127.0.0.1:{P.free_port()}"
    # Same port, its own database: the kernel refuses the bind (no SO_REUSEPORT).
    res = _run("coordinator.main", fed.coordinator_argv(enroll=other_enroll, db=fed.workdir / "other.db",
                                                        metrics_port=0))
    _one_line_refusal(res, f"cannot listen on {fed.coordinator}")
    # Its own ports, the same database: the lease refuses it before it touches a round.
    res = _run("coordinator.main", fed.coordinator_argv(listen=other, enroll=other_enroll, metrics_port=0))
    _one_line_refusal(res, "database already in use by the coordinator at " + fed.coordinator)
    assert fed.ctl_json("status") is not None  # the first one still answers, and still holds its port
    P.wait_healthy(fed.coordinator, fed.transport, proc=fed.services["coordinator"], timeout=10)
    # A cleanly stopped coordinator releases its lease: the next one starts at once on the same database.
    P.stop([fed.services.pop("coordinator")])
    fed.services["coordinator"] = P.start("coordinator.main", fed.coordinator_argv(listen=other, enroll=other_enroll,
                                                                                   metrics_port=0),
                                          fed.workdir / "coordinator2.log")
    P.wait_healthy(other, fed.transport, proc=fed.services["coordinator"])
