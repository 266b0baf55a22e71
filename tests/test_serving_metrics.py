"""Serving's metrics tell the truth: version and swap gauges move at swap time, not at the next request,
and every request is counted under the status it ended with, refusals included."""
from __future__ import annotations

import grpc
import pytest
from prometheus_client import REGISTRY

from admodels.models.fedads_model import build_model
from fedads.v1 import serving_pb2 as spb
from tests.test_serving import ads, serving  # noqa: F401 - the fixture


def _value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_gauges_follow_the_swap_and_outcomes_count_refusals(serving):  # noqa: F811
    stub, server, registry, config = serving
    assert _value("fedads_serving_model_version") == 1  # set at start-up, before any request
    registry.publish(**build_model(config, seed=5).publication(), parent_version=1, round_id=1,
                     catalog=registry.manifest(1)["catalog"])
    assert server.holder.refresh()
    assert _value("fedads_serving_model_version") == 2 and _value("fedads_serving_model_swaps") == 1

    ok = _value("fedads_serving_requests_total", method="Predict", outcome="ok")
    bad = _value("fedads_serving_requests_total", method="Predict", outcome="invalid_argument")
    missing = _value("fedads_serving_requests_total", method="Predict", outcome="not_found")
    stub.Predict(spb.PredictRequest(user_id="u", candidates=ads(1, 2)))
    for request in (spb.PredictRequest(user_id="u", candidates=[]), spb.PredictRequest(user_id="", candidates=ads(1)),
                    spb.PredictRequest(user_id="u", candidates=ads(1), model_version=99)):
        with pytest.raises(grpc.RpcError):
            stub.Predict(request)
    assert _value("fedads_serving_requests_total", method="Predict", outcome="ok") == ok + 1
    assert _value("fedads_serving_requests_total", method="Predict", outcome="invalid_argument") == bad + 2
    assert _value("fedads_serving_requests_total", method="Predict", outcome="not_found") == missing + 1

    events = _value("fedads_serving_requests_total", method="RecordEvents", outcome="invalid_argument")
    with pytest.raises(grpc.RpcError):
        stub.RecordEvents(iter([spb.BehaviorEvent(user_id="u")]))
    assert _value("fedads_serving_requests_total", method="RecordEvents", outcome="invalid_argument") == events + 1
