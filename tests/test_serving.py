"""Serving over real gRPC: behaviour from Redis and the embedded store, hot swaps, clear refusals."""
from __future__ import annotations

import json
import threading

import grpc
import numpy as np
import pytest

from admodels.models.fedads_model import build_model
from fedads.runtime.server import channel
from fedads.v1 import serving_pb2 as spb
from fedads.v1 import serving_pb2_grpc
from serving.behavior_store import InMemoryBehaviorStore, RedisBehaviorStore
from serving.main import build_parser, build_server
from fedads.runtime.tls import Transport
from tests.catalogs import ad_id, registry_with_model

PLAIN = Transport.insecure()  # these runs measure or fuzz the services, not TLS

N_ITEMS = 40


def ads(*indices) -> list:
    return [spb.Candidate(ad_id=ad_id(i)) for i in indices]


@pytest.fixture(params=["memory", "redis"])
def store(request, redis_url):
    if request.param == "memory":
        return InMemoryBehaviorStore(max_len=5, ttl_s=60)
    s = RedisBehaviorStore(redis_url, max_len=5, ttl_s=60, prefix=f"test:{request.node.name}:")
    return s


def test_behavior_store_contract(store):
    assert store.recent("nobody") == []
    assert store.append([("u1", ad_id(i)) for i in range(1, 8)]) == 7
    assert store.recent("u1") == [ad_id(i) for i in (3, 4, 5, 6, 7)]  # ordered, capped at max_len
    store.append([("u2", "größe-9"), ("u1", ad_id(8))])
    assert store.recent("u1") == [ad_id(i) for i in (4, 5, 6, 7, 8)] and store.recent("u2") == ["größe-9"]

    def writer(k):
        for i in range(50):
            store.append([(f"w{k}", ad_id(i + 1))])
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    for k in range(4):  # concurrent writers to different users lose nothing; each keeps its newest 5
        assert store.recent(f"w{k}") == [ad_id(i) for i in (46, 47, 48, 49, 50)]


def test_in_memory_store_forgets_after_ttl():
    s = InMemoryBehaviorStore(max_len=3, ttl_s=0.05)
    s.append([("u", "ad-1")])
    threading.Event().wait(0.1)
    assert s.recent("u") == []


@pytest.fixture
def serving(tmp_path, redis_url):
    registry, catalog, config = registry_with_model(tmp_path / "registry", N_ITEMS, dim=16, ffn_hidden=16,
                                                    max_seq_len=10)
    args = build_parser().parse_args(["--listen", "127.0.0.1:0", "--registry", str(registry.root), "--redis-url",
                                      redis_url, "--max-seq-len", "10", "--poll-s", "3600", "--insecure"])
    server = build_server(args)
    stub = serving_pb2_grpc.ServingServiceStub(channel(f"127.0.0.1:{server.port}", PLAIN))
    yield stub, server, registry, config
    server.stop_watch.set()
    server.stop(0)


def test_recorded_events_change_the_next_prediction(serving):
    stub, *_ = serving
    cands = ads(3, 7, 11, 19)
    before = stub.Predict(spb.PredictRequest(user_id="alice", candidates=cands))
    assert before.history_length == 0 and [p.ad_id for p in before.predictions] == [c.ad_id for c in cands]
    assert before.catalog_version == 1
    assert stub.RecordEvents(iter([spb.BehaviorEvent(user_id="alice", ad_id=ad_id(i)) for i in (5, 6, 7)])).recorded == 3
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
        (spb.PredictRequest(user_id="u", candidates=ads(*range(1, 1_102))), grpc.StatusCode.INVALID_ARGUMENT,
         "exceed the limit"),
        (spb.PredictRequest(user_id="u", candidates=ads(1, N_ITEMS + 5) + [spb.Candidate(ad_id="7")]),
         grpc.StatusCode.INVALID_ARGUMENT, f"2 ad id(s) not in the served model's catalogue (version 1): "
                                           f"'ad-{N_ITEMS + 5}', '7'"),
        (spb.PredictRequest(user_id="", candidates=ads(1)), grpc.StatusCode.INVALID_ARGUMENT, "user_id"),
        (spb.PredictRequest(user_id="u", candidates=ads(1), model_version=99), grpc.StatusCode.NOT_FOUND,
         "version 99"),
        (spb.PredictRequest(user_id="u", candidates=[spb.Candidate(ad_id=ad_id(1), bid=float("nan"))]),
         grpc.StatusCode.INVALID_ARGUMENT, "bids must be finite"),
    ]
    for req, code, fragment in cases:
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(req)
        assert err.value.code() == code and fragment in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.RecordEvents(iter([spb.BehaviorEvent(user_id="u", ad_id=ad_id(2)), spb.BehaviorEvent(user_id="u")]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        stub.RecordEvents(iter([spb.BehaviorEvent(user_id="u", ad_id=ad_id(2)),
                                spb.BehaviorEvent(user_id="u", ad_id="no-such-ad")]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'no-such-ad'" in err.value.details()
    assert stub.Predict(spb.PredictRequest(user_id="u", candidates=ads(1))).history_length == 0  # nothing recorded
    for req, fragment in ((spb.RankRequest(user_id="u", candidates=ads(1), k=-1), "k must"),
                          (spb.RankRequest(user_id="u", candidates=ads(1), objective=42), "objective 42 is not one of"),
                          (spb.RankRequest(user_id="u", candidates=ads(1, 2), objective=spb.OBJECTIVE_ECPM_CPC),
                           "give each candidate its bid")):
        with pytest.raises(grpc.RpcError) as err:
            stub.Rank(req)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and fragment in err.value.details()


def test_ecpm_objectives_rank_by_bid_times_probability(serving):
    stub, *_ = serving
    bids = {1: 0.5, 2: 3.0, 3: 1.0, 4: 0.0}
    cands = [spb.Candidate(ad_id=ad_id(i), bid=b) for i, b in bids.items()]
    for objective, prob in ((spb.OBJECTIVE_ECPM_CPC, "p_ctr"), (spb.OBJECTIVE_ECPM_OCPA, "p_ctcvr")):
        ranked = stub.Rank(spb.RankRequest(user_id="e", candidates=cands, objective=objective)).ranked
        expected = sorted(ranked, key=lambda p: bids[int(p.ad_id[3:])] * getattr(p, prob), reverse=True)
        assert [p.ad_id for p in ranked] == [p.ad_id for p in expected]
        for p in ranked:
            assert p.score == pytest.approx(bids[int(p.ad_id[3:])] * getattr(p, prob), rel=1e-5)
            assert p.ecpm == pytest.approx(1000 * p.score, rel=1e-5)
    # Without bids the CTR objective still ranks, and eCPM reads 0.
    plain = stub.Rank(spb.RankRequest(user_id="e", candidates=ads(1, 2, 3))).ranked
    assert [p.ecpm for p in plain] == [0, 0, 0] and plain[0].p_ctr >= plain[-1].p_ctr


def test_hot_swap_under_load_fails_no_request(serving):
    stub, server, registry, config = serving
    errors, versions, stop = [], set(), threading.Event()

    def load():
        while not stop.is_set():
            try:
                versions.add(stub.Rank(spb.RankRequest(user_id="bob", candidates=ads(1, 2, 3))).model_version)
            except grpc.RpcError as exc:
                errors.append(exc)
    threads = [threading.Thread(target=load) for _ in range(4)]
    [t.start() for t in threads]
    for seed in (2, 3):
        model = build_model(config, seed=seed)
        registry.publish(**model.publication(), parent_version=registry.latest_version(), round_id=seed,
                         catalog=registry.manifest(1)["catalog"])
        assert server.holder.refresh()
        threading.Event().wait(0.3)
    stop.set()
    [t.join() for t in threads]
    assert errors == [] and versions == {1, 2, 3} and server.holder.swaps == 2
    # A pinned old version is still served on request, verified by its hash.
    assert stub.Predict(spb.PredictRequest(user_id="bob", candidates=ads(1), model_version=1)).model_version == 1


def test_a_corrupted_new_version_is_not_swapped_in(serving):
    stub, server, registry, config = serving
    model = build_model(config, seed=5)
    m = registry.publish(**model.publication(), parent_version=1, round_id=1, catalog=registry.manifest(1)["catalog"])
    path = registry.root / f"v{m['version']:06d}" / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-4] + b"\0\0\0\0")
    assert not server.holder.refresh()
    assert stub.Predict(spb.PredictRequest(user_id="c", candidates=ads(1))).model_version == 1
    assert json.loads((path.parent / "manifest.json").read_text())["version"] == 2


def test_a_model_naming_another_catalogue_is_refused(serving):
    from fedads.runtime.registry import RegistryError
    from serving.model_holder import load_version

    stub, server, registry, config = serving
    model = build_model(config, seed=6)
    wrong = {"version": 1, "sha256": "0" * 64}
    m = registry.publish(**model.publication(), parent_version=1, round_id=1, catalog=wrong)
    with pytest.raises(RegistryError, match="not the 000000000000 the model was trained with"):
        load_version(registry, m["version"])
    unnamed = registry.publish(**model.publication(), parent_version=1, round_id=2)
    with pytest.raises(RegistryError, match="names no catalogue"):
        load_version(registry, unnamed["version"])
    assert not server.holder.refresh()  # the served version stays
    assert stub.Predict(spb.PredictRequest(user_id="c", candidates=ads(1))).model_version == 1


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
            stub.RecordEvents(iter([spb.BehaviorEvent(user_id=f"anon-{k}", ad_id=ad_id(i)) for i in job.history]))
    results, lock = {}, threading.Lock()

    def call(k):
        r = stub.Predict(spb.PredictRequest(user_id=f"anon-{k}", candidates=ads(*jobs[k].candidates)))
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
    from fedads.eventlog.keys import user_keys

    # One numeric and one string user id: the site's keys are the event log's (fedads.eventlog.keys).
    LocalStore(tmp_path / "site").save_private(private, user_keys(["101", "käthe@site"]))
    args = build_parser().parse_args(["--listen", "127.0.0.1:0", "--registry", str(registry.root),
                                      "--site-state", str(tmp_path / "site"), "--poll-s", "3600", "--insecure"])
    site_server = build_server(args)
    try:
        stub = serving_pb2_grpc.ServingServiceStub(channel(f"127.0.0.1:{site_server.port}", PLAIN))
        cands = [2, 4, 6]
        own = [p.p_ctr for p in stub.Predict(spb.PredictRequest(user_id="käthe@site", candidates=ads(*cands))).predictions]
        stranger = [p.p_ctr for p in stub.Predict(spb.PredictRequest(user_id="999", candidates=ads(*cands))).predictions]
        loaded = site_server.holder.current
        expected = forward_batch([ScoreJob(loaded, [], cands, user_index=1)], private)[0]["p_ctr"]
        np.testing.assert_allclose(own, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stranger, forward_batch([ScoreJob(loaded, [], cands)])[0]["p_ctr"], rtol=1e-5,
                                   atol=1e-6)
        assert not np.allclose(own, stranger)
    finally:
        site_server.stop_watch.set()
        site_server.stop(0)
