"""Many sites at once over real gRPC and real SecAgg+: every round completes, resources stay flat."""
import resource

import pytest

from bench.load import FDS_BASE, FDS_PER_SITE, raise_fd_limit, run


def test_thirty_lightweight_sites_for_four_rounds(tmp_path):
    rows = run(30, 4, tmp_path, progress=lambda line: None)
    assert [r["state"] for r in rows] == ["COMPLETED"] * 4
    # Open descriptors do not grow with rounds (no leaked channels, files or streams).
    fds = [r["coordinator"]["fds"] for r in rows] + [r["aggregator"]["fds"] for r in rows]
    assert max(r["coordinator"]["fds"] for r in rows[1:]) <= rows[1]["coordinator"]["fds"] + 5
    assert max(r["aggregator"]["fds"] for r in rows[1:]) <= rows[1]["aggregator"]["fds"] + 5
    assert all(f > 0 for f in fds)


def test_descriptor_limit_is_raised_within_the_hard_limit():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    n = 50
    assert raise_fd_limit(n) >= FDS_PER_SITE * n + FDS_BASE
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[1] == hard  # the hard limit is never touched
    if hard != resource.RLIM_INFINITY:
        with pytest.raises(RuntimeError, match="hard limit"):
            raise_fd_limit(hard)  # needs about 4 descriptors a site: above any hard limit
