"""Serving over real gRPC: behaviour from Redis and the embedded store, hot swaps, clear refusals."""
from __future__ import annotations

import json
import threading

import grpc
import numpy as np
import pytest

from admodels.models.fedads_model import ModelConfig, build_model
from fedads.runtime.registry import ModelRegistry
from fedads.runtime.server import channel
from fedads.v1 import serving_pb2 as spb
from fedads.v1 import serving_pb2_grpc
from serving.behavior_store import InMemoryBehaviorStore, RedisBehaviorStore
from serving.main import build_parser, build_server
from fedads.runtime.tls import Transport

PLAIN = Transport.insecure()  # these runs measure or fuzz the services, not TLS

N_ITEMS = 40


@pytest.fixture(params=["memory", "redis"])
def store(request, redis_url):
    if request.param == "memory":
        return InMemoryBehaviorStore(max_len=5, ttl_s=60)
    s = RedisBehaviorStore(redis_url, max_len=5, ttl_s=60, prefix=f"test:{request.node.name}:")
    return s


def test_behavior_store_contract(store):
    assert store.recent("nobody") == []
    assert store.append([("u1", i) for i in range(1, 8)]) == 7
    assert store.recent("u1") == [3, 4, 5, 6, 7]  # ordered, capped at max_len
    store.append([("u2", 9), ("u1", 8)])
    assert store.recent("u1") == [4, 5, 6, 7, 8] and store.recent("u2") == [9]

    def writer(k):
        for i in range(50):
            store.append([(f"w{k}", i + 1)])
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    for k in range(4):  # concurrent writers to different users lose nothing; each keeps its newest 5
        assert store.recent(f"w{k}") == [46, 47, 48, 49, 50]


def test_in_memory_store_forgets_after_ttl():
    s = InMemoryBehaviorStore(max_len=3, ttl_s=0.05)
    s.append([("u", 1)])
    threading.Event().wait(0.1)
    assert s.recent("u") == []


@pytest.fixture
def serving(tmp_path, redis_url):
    registry = ModelRegistry(tmp_path / "registry")
    config = ModelConfig(n_items=N_ITEMS, dim=16, ffn_hidden=16, max_seq_len=10)
    model = build_model(config, seed=1)
    registry.publish(**model.publication(), parent_version=0, round_id=0)
    args = build_parser().parse_args(["--listen", "127.0.0.1:0", "--registry", str(registry.root), "--redis-url",
                                      redis_url, "--max-seq-len", "10", "--poll-s", "3600", "--insecure"])
    server = build_server(args)
    stub = serving_pb2_grpc.ServingServiceStub(channel(f"127.0.0.1:{server.port}", PLAIN))
    yield stub, server, registry, config
    server.stop_watch.set()
    server.stop(0)


def test_recorded_events_change_the_next_prediction(serving):
    stub, *_ = serving
    cands = [3, 7, 11, 19]
    before = stub.Predict(spb.PredictRequest(user_id="alice", candidates=cands))
    assert before.history_length == 0 and [p.item_id for p in before.predictions] == cands
    assert stub.RecordEvents(iter([spb.BehaviorEvent(user_id="alice", item_id=i) for i in (5, 6, 7)])).recorded == 3
    after = stub.Predict(spb.PredictRequest(user_id="alice", candidates=cands))
    assert after.history_length == 3
    assert not np.allclose([p.p_ctr for p in before.predictions], [p.p_ctr for p in after.predictions])
    for p in after.predictions:
        assert 0 < p.p_ctr < 1 and p.p_ctcvr == pytest.approx(p.p_ctr * p.p_cvr, rel=1e-5)
    ranked = stub.Rank(spb.RankRequest(user_id="alice", candidates=cands, k=2))
    assert len(ranked.ranked) == 2 and ranked.ranked[0].score >= ranked.ranked[1].score
    assert ranked.ranked[0].score == max(p.p_ctr for p in after.predictions)


def test_bad_requests_get_clear_statuses_and_serving_continues(serving):
    stub, *_ = serving
    cases = [
        (spb.PredictRequest(user_id="u", candidates=[]), grpc.StatusCode.INVALID_ARGUMENT, "no candidates"),
        (spb.PredictRequest(user_id="u", candidates=list(range(1, 10_001))), grpc.StatusCode.INVALID_ARGUMENT,
         "exceed the limit"),
        (spb.PredictRequest(user_id="u", candidates=[1, N_ITEMS + 5, -2]), grpc.StatusCode.INVALID_ARGUMENT,
         f"unknown item ids [{N_ITEMS + 5}, -2]"),
        (spb.PredictRequest(user_id="", candidates=[1]), grpc.StatusCode.INVALID_ARGUMENT, "user_id"),
        (spb.PredictRequest(user_id="u", candidates=[1], model_version=99), grpc.StatusCode.NOT_FOUND,
         "version 99"),
    ]
    for req, code, fragment in cases:
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(req)
        assert err.value.code() == code and fragment in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.RecordEvents(iter([spb.BehaviorEvent(user_id="u", item_id=2), spb.BehaviorEvent(user_id="u")]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert stub.Predict(spb.PredictRequest(user_id="u", candidates=[1])).history_length == 0  # nothing recorded
    with pytest.raises(grpc.RpcError) as err:
        stub.Rank(spb.RankRequest(user_id="u", candidates=[1], k=-1))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_hot_swap_under_load_fails_no_request(serving):
    stub, server, registry, config = serving
    errors, versions, stop = [], set(), threading.Event()

    def load():
        while not stop.is_set():
            try:
                versions.add(stub.Rank(spb.RankRequest(user_id="bob", candidates=[1, 2, 3])).model_version)
            except grpc.RpcError as exc:
                errors.append(exc)
    threads = [threading.Thread(target=load) for _ in range(4)]
    [t.start() for t in threads]
    for seed in (2, 3):
        model = build_model(config, seed=seed)
        registry.publish(**model.publication(), parent_version=registry.latest_version(), round_id=seed)
        assert server.holder.refresh()
        threading.Event().wait(0.3)
    stop.set()
    [t.join() for t in threads]
    assert errors == [] and versions == {1, 2, 3} and server.holder.swaps == 2
    # A pinned old version is still served on request, verified by its hash.
    assert stub.Predict(spb.PredictRequest(user_id="bob", candidates=[1], model_version=1)).model_version == 1


def test_a_corrupted_new_version_is_not_swapped_in(serving):
    stub, server, registry, config = serving
    model = build_model(config, seed=5)
    m = registry.publish(**model.publication(), parent_version=1, round_id=1)
    path = registry.root / f"v{m['version']:06d}" / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-4] + b"\0\0\0\0")
    assert not server.holder.refresh()
    assert stub.Predict(spb.PredictRequest(user_id="c", candidates=[1])).model_version == 1
    assert json.loads((path.parent / "manifest.json").read_text())["version"] == 2


def test_micro_batched_scores_equal_single_request_scores(serving):
    from serving.batcher import ScoreJob, forward_batch

    stub, server, registry, config = serving
    loaded = server.holder.current
    rng = np.random.default_rng(0)
    jobs = [ScoreJob(loaded, [int(x) for x in rng.integers(1, N_ITEMS, rng.integers(0, 12))],
                     [int(x) for x in rng.integers(1, N_ITEMS, rng.integers(1, 9))]) for _ in range(12)]
    batched = forward_batch(jobs)
    for job, res in zip(jobs, batched):
        alone = forward_batch([ScoreJob(loaded, job.history, job.candidates)])[0]
        for key in ("p_ctr", "p_cvr", "value"):
            assert res[key].shape == (len(job.candidates),)
            np.testing.assert_allclose(res[key].numpy(), alone[key].numpy(), rtol=1e-5, atol=1e-6)
    # Over gRPC, concurrent callers are served in shared forward passes with the same answers.
    for k, job in enumerate(jobs):
        if job.history:
            stub.RecordEvents(iter([spb.BehaviorEvent(user_id=f"anon-{k}", item_id=i) for i in job.history]))
    results, lock = {}, threading.Lock()

    def call(k):
        r = stub.Predict(spb.PredictRequest(user_id=f"anon-{k}", candidates=jobs[k].candidates))
        with lock:
            results[k] = [p.p_ctr for p in r.predictions]
    batches_before = server.batcher.batches
    threads = [threading.Thread(target=call, args=(k,)) for k in range(len(jobs))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(results) == len(jobs) and server.batcher.batches - batches_before <= len(jobs)
    for k, scores in results.items():
        np.testing.assert_allclose(scores, batched[k]["p_ctr"], rtol=1e-5, atol=1e-6)


def test_site_mode_serves_site_users_with_their_private_parameters(tmp_path, serving):
    import torch

    from admodels.models.fedads_model import PrivateUserState
    from client_agent.local_store import LocalStore
    from serving.batcher import ScoreJob, forward_batch

    _, server, registry, config = serving
    private = PrivateUserState(config, n_users=2, seed=3)
    with torch.no_grad():
        private.ffn_up.normal_()
    LocalStore(tmp_path / "site").save_private(private, np.array([101, 102]))
    args = build_parser().parse_args(["--listen", "127.0.0.1:0", "--registry", str(registry.root),
                                      "--site-state", str(tmp_path / "site"), "--poll-s", "3600", "--insecure"])
    site_server = build_server(args)
    try:
        stub = serving_pb2_grpc.ServingServiceStub(channel(f"127.0.0.1:{site_server.port}", PLAIN))
        cands = [2, 4, 6]
        own = [p.p_ctr for p in stub.Predict(spb.PredictRequest(user_id="102", candidates=cands)).predictions]
        stranger = [p.p_ctr for p in stub.Predict(spb.PredictRequest(user_id="999", candidates=cands)).predictions]
        loaded = site_server.holder.current
        expected = forward_batch([ScoreJob(loaded, [], cands, user_index=1)], private)[0]["p_ctr"]
        np.testing.assert_allclose(own, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stranger, forward_batch([ScoreJob(loaded, [], cands)])[0]["p_ctr"], rtol=1e-5,
                                   atol=1e-6)
        assert not np.allclose(own, stranger)
    finally:
        site_server.stop_watch.set()
        site_server.stop(0)
