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
from serving.ranking import (MAX_AD_ID, MAX_USER_ID, RequestError, check_objective, check_user, ecpm,
                             history_indices, objective_scores, resolve)

log = logging.getLogger(__name__)

LATENCY = Histogram("fedads_serving_latency_seconds", "Request latency", ["method"],
                    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0))
REQUESTS = Counter("fedads_serving_requests_total", "Requests by method and outcome", ["method", "outcome"])
MODEL_VERSION = Gauge("fedads_serving_model_version", "Model version being served")
SWAPS = Gauge("fedads_serving_model_swaps", "Model hot swaps since start")



def version_gauges(holder: ModelHolder) -> None:
    MODEL_VERSION.set(holder.current.version)
    SWAPS.set(holder.swaps)


class ServingServicer(serving_pb2_grpc.ServingServiceServicer):
    def __init__(self, holder: ModelHolder, store: BehaviorStore, batcher: MicroBatcher, site=None):
        self.holder, self.store, self.batcher, self.site = holder, store, batcher, site
        holder.listeners.append(version_gauges)
        version_gauges(holder)  # the gauges show the served version from the start, not from a first request

    def _model(self, context, version: int):
        try:
            loaded = self.holder.get(version)
        except VersionNotFound as exc:
            abort(context, grpc.StatusCode.NOT_FOUND, str(exc))
        except RegistryError as exc:
            abort(context, grpc.StatusCode.DATA_LOSS, str(exc))
        return loaded

    def _score(self, request, context, method: str):
        started = time.perf_counter()
        loaded = self._model(context, request.model_version)
        try:
            check_user(request.user_id)
            resolved = resolve(request.candidates, loaded.ad_index, loaded.ad_catalog_version)
        except RequestError as exc:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        history = history_indices(self.store.recent(request.user_id), loaded.ad_index)
        user_index = self.site.user_index(request.user_id) if self.site else -1
        scores = self.batcher.score(ScoreJob(loaded, history, resolved.indices, user_index))
        LATENCY.labels(method).observe(time.perf_counter() - started)
        # One conversion to Python lists: indexing tensors element by element costs more than the model.
        return loaded, resolved, {k: v.tolist() for k, v in scores.items()}, len(history)

    @staticmethod
    def _predictions(resolved, s, rows, score, ecpm) -> list:
        return [spb.Prediction(ad_id=resolved.ad_ids[i], p_ctr=s["p_ctr"][i], p_cvr=s["p_cvr"][i],
                               p_ctcvr=s["p_ctcvr"][i], value=s["value"][i], score=score[i], ecpm=ecpm[i])
                for i in rows]

    def Predict(self, request, context):
        loaded, resolved, s, n_hist = self._score(request, context, "Predict")
        preds = self._predictions(resolved, s, range(len(resolved.ad_ids)), s["p_ctr"],
                                  ecpm(spb.OBJECTIVE_ECPM_CPC, s, resolved.bids))
        return spb.PredictResponse(model_version=loaded.version, predictions=preds, history_length=n_hist,
                                   catalog_version=loaded.catalog.version)

    def Rank(self, request, context):
        if request.k < 0:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, "k must be ≥ 0")
        try:
            check_objective(request.objective)
        except RequestError as exc:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        loaded, resolved, s, n_hist = self._score(request, context, "Rank")
        objective = request.objective or spb.OBJECTIVE_CTR
        try:
            score = objective_scores(objective, s, resolved.bids)
        except RequestError as exc:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        order = sorted(range(len(score)), key=score.__getitem__, reverse=True)[:request.k or None]
        return spb.RankResponse(model_version=loaded.version, history_length=n_hist,
                                ranked=self._predictions(resolved, s, order, score, ecpm(objective, s, resolved.bids)),
                                catalog_version=loaded.catalog.version)

    def RecordEvents(self, request_iterator, context):
        events = []
        for e in request_iterator:
            if not e.user_id or len(e.user_id) > MAX_USER_ID or not e.ad_id or len(e.ad_id) > MAX_AD_ID:
                abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                      f"every event needs a user_id (1-{MAX_USER_ID} characters) and an ad_id (1-{MAX_AD_ID} "
                      "characters); nothing was recorded")
            events.append((e.user_id, e.ad_id))
        index = self._model(context, 0).ad_index
        unknown = [a for _, a in events if a not in index]
        if unknown:
            abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                  f"{len(unknown)} event(s) name ads the served catalogue does not hold: "
                  f"{', '.join(repr(a) for a in unknown[:5])}; nothing was recorded")
        n = self.store.append(events)
        return spb.RecordEventsResponse(recorded=n)
