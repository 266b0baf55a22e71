"""Fail fast and say why: with the aggregator gone a round fails at once with one readable line naming it,
and the coordinator's health is NOT_SERVING until the aggregator is back."""
from __future__ import annotations

import json
import time
from functools import partial

from grpc_health.v1 import health_pb2, health_pb2_grpc
from tests.helpers import wait_until


def _health(fed) -> int:
    with fed.transport.channel(fed.coordinator) as ch:
        return health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5).status


_wait = partial(wait_until, timeout=60.0)


def test_round_without_aggregator_fails_at_once_with_one_line(federation_factory):
    fed = federation_factory(n_sites=2).start()
    assert _health(fed) == health_pb2.HealthCheckResponse.SERVING
    fed.services["aggregator"].kill()
    fed.services["aggregator"].wait()
    _wait(lambda: _health(fed) == health_pb2.HealthCheckResponse.NOT_SERVING)
    started = time.monotonic()
    res = fed.ctl("--json", "start-round", "--wait", "--min-sites", "2", check=False)
    elapsed = time.monotonic() - started
    info = json.loads(res.stdout)
    reason = info["failure_reason"]
    assert res.returncode == 1 and info["state"] == "FAILED"
    assert reason.startswith(f"aggregator at {fed.aggregator}: UNAVAILABLE"), reason
    assert "\n" not in reason and "_InactiveRpcError" not in reason and "<" not in reason
    print(f"round without an aggregator failed after {elapsed:.1f}s: {reason}")
    fed.start_aggregator()
    _wait(lambda: _health(fed) == health_pb2.HealthCheckResponse.SERVING)
    nxt = json.loads(fed.ctl("--json", "start-round", "--wait", "--min-sites", "2").stdout)
    assert nxt["state"] == "COMPLETED"
