"""The application client and `fedads-serve` against real serving over mTLS on loopback."""
from __future__ import annotations

import json
import subprocess
import sys

import grpc
import pytest

from fedads.client import ServingClient, ServingError
from fedads.runtime.pki_cli import init_federation
from serving.main import build_parser, build_server
from tests.catalogs import ad_id, registry_with_model


@pytest.fixture
def secure_serving(tmp_path):
    pki = init_federation(tmp_path / "pki")
    registry, catalog, _ = registry_with_model(tmp_path / "registry", 30, dim=8, ffn_hidden=8, max_seq_len=6)
    server = build_server(build_parser().parse_args(["--listen", "127.0.0.1:0", "--registry", str(registry.root),
                                                     "--poll-s", "3600", "--tls-dir", str(pki["serving"])]))
    yield f"127.0.0.1:{server.port}", pki
    server.stop_watch.set()
    server.stop(0)


def test_client_ranks_predicts_and_records_over_mtls(secure_serving):
    address, pki = secure_serving
    with ServingClient(address, tls_dir=pki["client"]) as client:
        bids = {ad_id(1): 2.0, ad_id(2): 0.5, ad_id(3): 1.0}
        ranking = client.rank("user-1", bids, objective="ecpm_cpc", k=2)
        assert ranking.model_version == 1 and ranking.catalog_version == 1 and len(ranking.ads) == 2
        top = ranking.ads[0]
        assert top.score == pytest.approx(bids[top.ad_id] * top.p_ctr, rel=1e-5) and top.score >= ranking.ads[1].score
        assert client.predict("user-1", [ad_id(5)]).history_length == 0
        assert client.record_events([("user-1", ad_id(4)), ("user-1", ad_id(7))]) == 2
        assert client.predict("user-1", [ad_id(5)]).history_length == 2
        with pytest.raises(ServingError) as err:
            client.rank("user-1", ["no-such-ad"])
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT and "'no-such-ad'" in err.value.message
        with pytest.raises(ValueError, match="objective must be one of"):
            client.rank("user-1", [ad_id(1)], objective="clicks")
    with pytest.raises(ValueError, match="give tls_dir"):
        ServingClient(address)
    # A plaintext caller is not let in to an mTLS server.
    with ServingClient(address, insecure=True, timeout_s=2) as plain, pytest.raises(ServingError):
        plain.rank("user-1", [ad_id(1)])


def test_fedads_serve_cli(secure_serving):
    address, pki = secure_serving

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "fedads.serve_cli", *args, "--address", address, "--tls-dir",
                               str(pki["client"])], capture_output=True, text=True, timeout=120)
    res = cli("rank", "--user", "u", "--candidates", f"{ad_id(1)},{ad_id(2)}", "--bids", "1,3", "--objective",
              "ecpm_ocpa", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert [a["ad_id"] for a in out["ads"]] == sorted([ad_id(1), ad_id(2)], key=lambda a: -next(
        x["score"] for x in out["ads"] if x["ad_id"] == a))
    assert "recorded 1 events" in cli("record", "--user", "u", "--ads", ad_id(3)).stdout
    table = cli("predict", "--user", "u", "--candidates", ad_id(3))
    assert table.returncode == 0 and "history 1" in table.stdout and ad_id(3) in table.stdout
    bad = cli("rank", "--user", "u", "--candidates", "x,y", "--bids", "1")
    assert bad.returncode == 2 and "--bids has 1 values for 2 candidates" in bad.stderr and "Traceback" not in bad.stderr
    bad = cli("rank", "--user", "u", "--candidates", "zzz")
    assert bad.returncode == 2 and "INVALID_ARGUMENT" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
