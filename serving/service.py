"""Serving gRPC servicer: validation and translation only; scoring lives in model_holder."""
from __future__ import annotations

import logging
import time

import grpc
from prometheus_client import Counter, Gauge, Histogram

from fedads.runtime.registry import RegistryError, VersionNotFound
from fedads.runtime.server import abort
from fedads.v1 import serving_pb2 as spb
from fedads.v1 import serving_pb2_grpc
from serving.behavior_store import BehaviorStore
from serving.batcher import MicroBatcher, ScoreJob
from serving.model_holder import ModelHolder

log = logging.getLogger(__name__)

LATENCY = Histogram("fedads_serving_latency_seconds", "Request latency", ["method"],
                    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0))
REQUESTS = Counter("fedads_serving_requests_total", "Requests by method and outcome", ["method", "outcome"])
MODEL_VERSION = Gauge("fedads_serving_model_version", "Model version being served")
SWAPS = Gauge("fedads_serving_model_swaps", "Model hot swaps since start")

MAX_CANDIDATES = 1000
MAX_USER_ID = 256


class ServingServicer(serving_pb2_grpc.ServingServiceServicer):
    def __init__(self, holder: ModelHolder, store: BehaviorStore, batcher: MicroBatcher, site=None):
        self.holder, self.store, self.batcher, self.site = holder, store, batcher, site

    def _model(self, context, version: int):
        try:
            loaded = self.holder.get(version)
        except VersionNotFound as exc:
            abort(context, grpc.StatusCode.NOT_FOUND, str(exc))
        except RegistryError as exc:
            abort(context, grpc.StatusCode.DATA_LOSS, str(exc))
        MODEL_VERSION.set(self.holder.current.version)
        SWAPS.set(self.holder.swaps)
        return loaded

    def _check(self, context, user_id: str, candidates, n_items: int) -> None:
        if not user_id or len(user_id) > MAX_USER_ID:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"user_id must be 1-{MAX_USER_ID} characters")
        if not candidates:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, "no candidates given")
        if len(candidates) > MAX_CANDIDATES:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                  f"{len(candidates)} candidates exceed the limit of {MAX_CANDIDATES} per request")
        unknown = [c for c in candidates if not 1 <= c <= n_items]
        if unknown:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                  f"unknown item ids {unknown[:5]} (catalogue ids are 1..{n_items})")

    def _score(self, request, context, method: str):
        started = time.perf_counter()
        loaded = self._model(context, request.model_version)
        candidates = list(request.candidates)
        self._check(context, request.user_id, candidates, loaded.config.n_items)
        history = [i for i in self.store.recent(request.user_id) if 1 <= i <= loaded.config.n_items]
        user_index = self.site.user_index(request.user_id) if self.site else -1
        scores = self.batcher.score(ScoreJob(loaded, history, candidates, user_index))
        LATENCY.labels(method).observe(time.perf_counter() - started)
        REQUESTS.labels(method, "ok").inc()
        # One conversion to Python lists: indexing tensors element by element costs more than the model.
        return loaded, candidates, {k: v.tolist() for k, v in scores.items()}, len(history)

    @staticmethod
    def _predictions(candidates, s, rows, score) -> list:
        return [spb.Prediction(item_id=candidates[i], p_ctr=s["p_ctr"][i], p_cvr=s["p_cvr"][i],
                               p_ctcvr=s["p_ctcvr"][i], value=s["value"][i], score=score[i]) for i in rows]

    def Predict(self, request, context):
        loaded, candidates, s, n_hist = self._score(request, context, "Predict")
        preds = self._predictions(candidates, s, range(len(candidates)), s["p_ctr"])
        return spb.PredictResponse(model_version=loaded.version, predictions=preds, history_length=n_hist)

    def Rank(self, request, context):
        if request.k < 0:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, "k must be ≥ 0")
        if request.objective not in spb.Objective.values():  # proto3 keeps unknown enum numbers as ints
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"objective {request.objective} is not one of "
                  f"{', '.join(spb.Objective.keys())}")
        loaded, candidates, s, n_hist = self._score(request, context, "Rank")
        objective = request.objective or spb.OBJECTIVE_CTR
        if objective == spb.OBJECTIVE_CTR:
            score = s["p_ctr"]
        elif objective == spb.OBJECTIVE_CVR:
            score = s["p_ctcvr"]
        else:  # expected revenue: P(click and convert) × predicted conversion value
            score = [p * max(v, 0.0) for p, v in zip(s["p_ctcvr"], s["value"])]
        order = sorted(range(len(candidates)), key=score.__getitem__, reverse=True)[:request.k or None]
        return spb.RankResponse(model_version=loaded.version, ranked=self._predictions(candidates, s, order, score),
                                history_length=n_hist)

    def RecordEvents(self, request_iterator, context):
        events = []
        for e in request_iterator:
            if not e.user_id or len(e.user_id) > MAX_USER_ID or e.item_id < 1:
                abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                      "every event needs a user_id (1-256 characters) and a positive item_id; nothing was recorded")
            events.append((e.user_id, e.item_id))
        n = self.store.append(events)
        REQUESTS.labels("RecordEvents", "ok").inc()
        return spb.RecordEventsResponse(recorded=n)
