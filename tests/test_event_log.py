"""The site's event log: ids as strings, row-numbered refusals, and an agent that will not go online with bad data."""
from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from admodels.data.sequences import SequenceData
from fedads.datasets import synthetic
from fedads.eventlog.check import check_events
from fedads.eventlog.keys import user_keys
from fedads.eventlog.reader import EventLogError, read_events
from fedads.eventlog.site_data import SiteData

HEADER = "user_id,ad_id,timestamp,click,conversion,value\n"


def write(path, rows, header=HEADER):
    path.write_text(header + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def test_ids_are_strings_and_big_numeric_ids_stay_distinct(tmp_path):
    rows = [["9007199254740993", "ad-1", 10, 1, 0, ""], ["9007199254740992", "ad-2", 11, 1, 1, 4.5],
            ["käthe@shop", "ad-3", "2017-11-25T12:00:00Z", 0, 0, 0], ["00042", "ad-1", "2017-11-25 12:00:01", 1, 0, 0],
            ["42", "ad-2", "2017-11-25T13:00:00+01:00", 1, 0, 0]]
    ev = read_events(write(tmp_path / "e.csv", rows))
    assert ev.column("user_id").to_pylist() == [r[0] for r in rows]
    assert ev.column("timestamp").to_pylist() == [10, 11, 1511611200, 1511611201, 1511611200]
    keys = user_keys(pa.array([r[0] for r in rows]))
    assert len(set(keys.tolist())) == 5  # 2^53 + 1 vs 2^53, and "00042" vs "42", stay distinct users
    assert keys[1] == 9007199254740992 and keys[4] == 42 and keys[2] < 0 and keys[3] < 0
    assert ev.column("value").to_pylist()[:2] == [0.0, 4.5]
    # Parquet with integer ids reads the same way (digits, exactly); float ids are refused.
    pq.write_table(pa.table({"user_id": pa.array([2 ** 62 + 1, 2 ** 62]), "ad_id": ["a", "b"], "timestamp": [1, 2],
                             "click": [1, 0]}), tmp_path / "e.parquet")
    assert read_events(tmp_path / "e.parquet").column("user_id").to_pylist() == [str(2 ** 62 + 1), str(2 ** 62)]
    pq.write_table(pa.table({"user_id": [1.0], "ad_id": ["a"], "timestamp": [1], "click": [1]}), tmp_path / "f.parquet")
    with pytest.raises(EventLogError, match="never read as floats"):
        read_events(tmp_path / "f.parquet")


@pytest.mark.parametrize("rows,header,fragment", [
    ([["u", "ad-1", 1]], "user_id,ad_id,click\n", "missing column(s) timestamp"),
    ([["u", "ad-1", 5, 1, 0, 0], ["u", "ad-2", "yesterday", 1, 0, 0]], HEADER, "row 2: bad timestamp 'yesterday'"),
    ([["u", "ad-1", 5, 1, 0, 0], ["u", "ad-2", 6, 2, 0, 0]], HEADER, "row 2: click must be 0 or 1"),
    ([["u", "ad-1", 5, 1, 0, -3]], HEADER, "row 1: value must be a finite number"),
    ([["u", "ad-1", 5, 1, 0, 0], ["", "ad-1", 6, 1, 0, 0]], HEADER, "row 2: empty user_id"),
])
def test_unreadable_rows_are_named(tmp_path, rows, header, fragment):
    with pytest.raises(EventLogError) as err:
        read_events(write(tmp_path / "e.csv", rows, header))
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_check_counts_and_refuses_with_row_numbers(tmp_path):
    catalog = synthetic.catalog(tmp_path / "catalog", 20)
    good = [["u1", "ad-1", 100, 1, 1, 3.0], ["u1", "ad-2", 200, 0, 0, 0], ["u2", "ad-3", 300, 1, 0, 0]]
    rep = check_events(read_events(write(tmp_path / "good.csv", good)), catalog, source="good.csv")
    c = rep.counts()
    assert rep.ok and (c["rows"], c["users"], c["clicks"], c["conversions"]) == (3, 2, 2, 1)
    assert c["time_range"] == ["1970-01-01T00:01:40Z", "1970-01-01T00:05:00Z"] and c["unknown_ad_share"] == 0
    bad = good + [["u3", "ad-999", 400, 1, 0, 0], ["u3", "ad-4", 500, 0, 1, 0], ["u1", "ad-1", 100, 1, 1, 3.0]]
    rep = check_events(read_events(write(tmp_path / "bad.csv", bad)), catalog, source="bad.csv")
    assert not rep.ok
    text = "\n".join(rep.errors)
    assert "bad.csv row 5: conversion = 1 without a click" in text
    assert "'ad-999' (row 4)" in text and "more than 1.00% is refused" in text
    assert "bad.csv row 6: duplicate row" in text
    assert all("\n" not in e for e in rep.errors)
    # Below the threshold unknown ads only warn (those rows are skipped in training).
    rep = check_events(read_events(write(tmp_path / "few.csv", good + [["u3", "ad-999", 400, 1, 0, 0]])), catalog,
                       max_unknown_share=0.5)
    assert rep.ok and "skipped in training" in rep.warnings[0]
    rep = check_events(read_events(write(tmp_path / "g.csv", good)), catalog, interaction_only=True)
    assert not rep.ok and "declared interaction_only" in rep.errors[0]


def test_sequences_from_an_event_log_use_clicks_and_catalogue_indices(tmp_path):
    catalog = synthetic.catalog(tmp_path / "catalog", 20)
    rows = [["b", "ad-7", 5, 1, 1, 8.0], ["a", "ad-3", 9, 1, 0, 0], ["a", "ad-2", 1, 1, 0, 0], ["a", "ad-9", 3, 0, 0, 0],
            ["b", "gone", 6, 1, 0, 0], ["b", "ad-20", 7, 1, 0, 0]]
    data = SequenceData.from_events(read_events(write(tmp_path / "e.csv", rows)), catalog, max_len=4)
    a, b = user_keys(pa.array(["a", "b"]))
    assert data.user_keys.tolist() == sorted([a, b]) and data.n_items == 20
    by_user = {int(k): data.items[data.starts[i]:data.ends[i]].tolist() for i, k in enumerate(data.user_keys)}
    assert by_user == {a: [2, 3], b: [7, 20]}  # unclicked and unknown-ad rows are not behaviour
    assert data.values[data.items == 7].tolist() == [pytest.approx(8.0 / catalog.schema.value_scale)]
    assert data.conversions[data.items == 7].tolist() == [1.0]


def _site(tmp_path, rows, catalog_dir=None, interaction_only=False):
    folder = tmp_path / "site"
    (folder / "data").mkdir(parents=True)
    write(folder / "data" / "events.csv", rows)
    SiteData(folder / "data" / "events.csv", None, interaction_only).write(folder / "data" / "data.toml")
    extra = f'catalog = "{catalog_dir}"\n' if catalog_dir else ""
    (folder / "site.toml").write_text(f'site_id = "site-01"\ncoordinator = "127.0.0.1:1"\ndata = "data"\n'
                                      f'state_dir = "state"\ninsecure = true\n{extra}')
    return folder / "site.toml"


def test_client_agent_check_prints_counts_and_refuses_in_one_line_each(tmp_path):
    catalog = synthetic.catalog(tmp_path / "catalog", 20)
    config = _site(tmp_path, [["u1", "ad-1", 1, 1, 0, 0], ["u1", "nope", 2, 1, 0, 0]], catalog.root)

    def check(*extra):
        return subprocess.run([sys.executable, "-m", "client_agent.main", "check", "--config", str(config), *extra],
                              capture_output=True, text=True, timeout=120)
    res = check()
    assert res.returncode == 1 and "error: events.csv: 1 row(s) (50.00%) name ads" in res.stdout
    assert "'nope' (row 2)" in res.stdout and "refused" in res.stdout and "Traceback" not in res.stderr
    out = json.loads(check("--json").stdout)
    assert out["rows"] == 2 and out["users"] == 1 and not out["ok"]
    (config.parent / "data" / "events.csv").write_text(HEADER + "u1,ad-1,1,1,0,0\nu2,ad-2,2,0,0,0\n")
    res = check()
    assert res.returncode == 0 and "ok: the site's data can go online" in res.stdout
    res = check("--catalog", str(tmp_path / "nowhere"))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_an_agent_with_invalid_data_does_not_go_online(tmp_path):
    """A real coordinator serves its catalogue; the agent fetches it, checks, and stops before Connect."""
    from client_agent.agent import AgentStopped, SiteAgent
    from client_agent.config import SiteConfig
    from coordinator.main import build_parser, build_server
    from coordinator.admin_auth import admin_channel
    from fedads.runtime.server import channel
    from fedads.runtime.tls import Transport
    from fedads.v1 import admin_pb2, admin_pb2_grpc, common_pb2
    from tests.catalogs import write_model_config

    coord = build_server(build_parser().parse_args([
        "--listen", "127.0.0.1:0", "--db", str(tmp_path / "c.db"), "--registry", str(tmp_path / "registry"),
        *write_model_config(tmp_path / "model", n_ads=20, dim=8, ffn_hidden=8, max_seq_len=5),
        "--audit-key", str(tmp_path / "audit.key"), "--admin-token-file", str(tmp_path / "admin.token"), "--insecure"]))
    try:
        admin = admin_pb2_grpc.AdminServiceStub(admin_channel(channel(f"127.0.0.1:{coord.port}", Transport.insecure()),
                                                              (tmp_path / "admin.token").read_text().strip()))
        token = admin.CreateEnrollment(admin_pb2.CreateEnrollmentRequest(site_id="site-01")).enrollment_token
        config_path = _site(tmp_path, [["u1", "ad-1", 1, 1, 0, 0], ["u1", "ad-404", 2, 1, 0, 0]])
        text = config_path.read_text().replace("127.0.0.1:1", f"127.0.0.1:{coord.port}")
        config_path.write_text(text + f'enrollment_token = "{token}"\n')
        agent = SiteAgent(SiteConfig.load(config_path))
        with pytest.raises(AgentStopped, match=r"not going online: events.csv: 1 row\(s\).*'ad-404' \(row 2\)"):
            agent.run(max_tasks=1)
        assert agent.catalogs.get(1).n_ads == 20  # fetched over gRPC and verified
        assert admin.GetStatus(common_pb2.Empty()).sites_online == 0
    finally:
        coord.stop(0)
