"""`coordinatorctl enroll`: a partner kit that loads as written, a token file never lost or left
half-issued, and a warning before a live site is re-enrolled. Real coordinator over loopback gRPC."""
from __future__ import annotations

import os
import stat

from client_agent.config import SiteConfig
from coordinator.ctl import main as ctl
from coordinator.kit import KIT_PRIVACY
from fedads.v1 import coordinator_pb2 as cpb
from tests.test_coordinator_api import KEY, services  # noqa: F401 - the fixture


def _ctl(coord, tmp_path, *args):
    return ctl(["--coordinator", f"127.0.0.1:{coord.port}", "--admin-token-file", str(tmp_path / "admin.token"),
                "--insecure", *args])


def test_kit_folder_holds_a_config_that_loads_and_a_token_that_redeems(services, tmp_path, capsys):  # noqa: F811
    sites, admin, coord = services
    kit = tmp_path / "handover" / "site-07"
    assert _ctl(coord, tmp_path, "enroll", "--site", "site-07", "--kit", str(kit),
                "--kit-coordinator", "fed.example:7000") == 0
    assert "partner kit for site-07" in capsys.readouterr().out
    config = SiteConfig.load(kit / "site.toml")
    assert config.site_id == "site-07" and config.coordinator == "fed.example:7000"
    assert config.data == (kit / "data").resolve() and (kit / "data").is_dir()
    assert config.state_dir == (kit / "state").resolve()
    assert (config.dp_unit, config.dp_clip_norm, config.dp_epsilon_budget) == \
        (KIT_PRIVACY["dp_unit"], KIT_PRIVACY["dp_clip_norm"], KIT_PRIVACY["dp_epsilon_budget"])
    assert stat.S_IMODE(os.stat(kit / "enrollment.token").st_mode) == 0o600
    readme = (kit / "README.md").read_text()
    assert "client-agent check --config site.toml" in readme and "client-agent --config site.toml" in readme
    secret = sites.Enroll(cpb.EnrollRequest(site_id="site-07", enrollment_token=config.token(),
                                            identity_public_key=KEY)).site_secret
    assert secret
    # A kit is written once: the folder is not reused for another token.
    assert _ctl(coord, tmp_path, "enroll", "--site", "site-07", "--kit", str(kit)) == 1
    err = capsys.readouterr().err
    assert "warning: site site-07 is already enrolled" in err and "is not empty" in err


def test_token_file_that_cannot_be_written_issues_nothing(services, tmp_path, capsys):  # noqa: F811
    sites, admin, coord = services
    (tmp_path / "a-file").write_text("not a folder")
    code = _ctl(coord, tmp_path, "enroll", "--site", "site-08", "--token-file", str(tmp_path / "a-file" / "t.token"))
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "nothing was issued" in err and "Traceback" not in err
    assert _ctl(coord, tmp_path, "--json", "clients") == 0
    assert "site-08" not in capsys.readouterr().out
    # Into a folder that does not exist yet: created, and the token lands there.
    target = tmp_path / "new" / "folder" / "site-08.token"
    assert _ctl(coord, tmp_path, "enroll", "--site", "site-08", "--token-file", str(target), "--json") == 0
    assert '"enrollment_token"' not in capsys.readouterr().out  # the token went to the file only
    assert sites.Enroll(cpb.EnrollRequest(site_id="site-08", enrollment_token=target.read_text().strip(),
                                          identity_public_key=KEY)).site_secret


def test_a_tls_kit_enrols_a_site_as_handed_over(tmp_path, capsys):
    """Under mTLS the kit's ca.crt pins the coordinator and its token redeems for a site certificate."""
    from client_agent.enrolment import enroll
    from client_agent.local_store import LocalStore
    from coordinator.main import build_parser, build_server
    from deploy.processes import free_port
    from fedads.runtime.pki_cli import init_federation
    from tests.catalogs import write_model_config

    pki = init_federation(tmp_path / "pki")
    enroll_port = free_port()
    model_args = write_model_config(tmp_path / "model", n_ads=20, dim=8, ffn_hidden=8, max_seq_len=5)
    args = build_parser().parse_args([
        "--listen", "127.0.0.1:0", "--db", str(tmp_path / "c.db"), "--registry", str(tmp_path / "registry"),
        "--aggregator", f"127.0.0.1:{free_port()}", *model_args, "--audit-key",
        str(tmp_path / "audit.key"), "--admin-token-file", str(tmp_path / "admin.token"), "--tls-dir",
        str(pki["coordinator"]), "--ca-dir", str(tmp_path / "pki" / "ca"), "--enroll-listen", f"127.0.0.1:{enroll_port}"])
    coord = build_server(args)
    try:
        kit = tmp_path / "kit"
        assert ctl(["--coordinator", f"127.0.0.1:{coord.port}", "--admin-token-file", str(tmp_path / "admin.token"),
                    "--tls-dir", str(pki["operator"]), "enroll", "--site", "site-09", "--kit", str(kit),
                    "--kit-enroll-address", f"127.0.0.1:{enroll_port}"]) == 0
        config = SiteConfig.load(kit / "site.toml")
        assert not config.insecure and config.ca_file == (kit / "ca.crt").resolve()
        assert (kit / "ca.crt").read_bytes() == (tmp_path / "pki" / "ca" / "ca.crt").read_bytes()
        store = LocalStore(config.state_dir)
        secret, transport = enroll(store, config.site_id, config.token(), config.coordinator,
                                   config.ca_file.read_bytes(), config.enroll_address)
        assert secret and store.tls_identity() is not None and transport.secure
    finally:
        coord.stop(0)
