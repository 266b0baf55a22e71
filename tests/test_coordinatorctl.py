"""coordinatorctl as a person uses it: --help everywhere, one clear line and a non-zero exit on errors."""
from __future__ import annotations

import pytest

from deploy import processes as P

COMMANDS = ["start-round", "status", "rounds", "round", "clients", "models", "enroll", "revoke", "audit", "run", "jobs",
            "job", "stop", "stop-round", "watch", "logs"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help(command):
    res = P.ctl("127.0.0.1:1", *([command] if command else []), "--help", check=False)
    assert res.returncode == 0 and "usage: coordinatorctl" in res.stdout


def test_unreachable_coordinator_gives_one_line_and_exit_1():
    port = P.free_port()
    res = P.ctl(f"127.0.0.1:{port}", "--insecure", "status", check=False)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "unreachable" in lines[0] and str(port) in lines[0]


def test_no_transport_choice_is_refused_in_one_line(monkeypatch):
    monkeypatch.delenv("FEDADS_INSECURE", raising=False)
    monkeypatch.delenv("FEDADS_TLS_DIR", raising=False)
    res = P.ctl("127.0.0.1:1", "status", check=False)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and "--tls-dir" in lines[0] and "--insecure" in lines[0]


@pytest.mark.parametrize("module", ["coordinator.main", "aggregator.main", "client_agent.main", "serving.main",
                                    "deploy.demo", "fedads.runtime.pki_cli"])
def test_every_program_has_help(module):
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                         env=P.child_env(), cwd=P.REPO_ROOT)
    assert res.returncode == 0 and "usage:" in res.stdout
    assert "--version" in res.stdout
    if module == "fedads.runtime.pki_cli":  # its options live on its subcommands
        res = subprocess.run([sys.executable, "-m", module, "init", "--help"], capture_output=True, text=True,
                             env=P.child_env(), cwd=P.REPO_ROOT)
    assert "(default: " in res.stdout  # defaults shown
    res = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True,
                         env=P.child_env(), cwd=P.REPO_ROOT)
    assert res.returncode == 0 and res.stdout.split()[1][0].isdigit()


def test_round_flags_show_the_one_source_of_defaults():
    from coordinator.round_config import RoundSettings

    res = P.ctl("127.0.0.1:1", "start-round", "--help", check=False)
    text = " ".join(res.stdout.split())
    assert f"multiple of --lr (default: {RoundSettings().private_lr_scale})" in text
    assert f"local learning rate (default: {RoundSettings().learning_rate})" in text


def test_coordinator_with_a_missing_init_model_says_so_before_creating_anything(tmp_path):
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "coordinator.main", "--insecure", "--listen", "127.0.0.1:0",
                          "--db", str(tmp_path / "c.db"), "--init-model", "model_config.json",
                          "--admin-token-file", str(tmp_path / "admin.token"), "--audit-key", str(tmp_path / "a.key")],
                         capture_output=True, text=True, env=P.child_env(), cwd=tmp_path)
    lines = res.stderr.strip().splitlines()
    assert res.returncode != 0 and len(lines) == 1 and "deploy/config/model_config.json" in lines[0]
    assert not (tmp_path / "c.db").exists() and not (tmp_path / "admin.token").exists()


def test_refused_round_is_one_line_with_the_reason(federation_factory):
    fed = federation_factory(n_sites=1)
    fed.start_aggregator()
    fed.start_coordinator()
    res = fed.ctl("start-round", "--min-sites", "2", check=False)
    assert res.returncode == 1
    assert res.stderr.strip() == "coordinatorctl: error: FAILED_PRECONDITION: 0 sites online, the round needs 2"
    res = fed.ctl("round", "42", check=False)
    assert res.returncode == 1 and "round 42 does not exist" in res.stderr
