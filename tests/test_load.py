"""Many sites at once over real gRPC and real SecAgg+: every round completes, resources stay flat."""
from bench.load import run


def test_thirty_lightweight_sites_for_four_rounds(tmp_path):
    rows = run(30, 4, tmp_path, progress=lambda line: None)
    assert [r["state"] for r in rows] == ["COMPLETED"] * 4
    # Open descriptors do not grow with rounds (no leaked channels, files or streams).
    fds = [r["coordinator"]["fds"] for r in rows] + [r["aggregator"]["fds"] for r in rows]
    assert max(r["coordinator"]["fds"] for r in rows[1:]) <= rows[1]["coordinator"]["fds"] + 5
    assert max(r["aggregator"]["fds"] for r in rows[1:]) <= rows[1]["aggregator"]["fds"] + 5
    assert all(f > 0 for f in fds)
