"""`ServingClient`: how an application (an ad server) calls FedAds serving, with typed results.

    with ServingClient("serving:7200", tls_dir="pki/adserver") as client:
        ranking = client.rank("user-17", {"ad-1": 0.8, "ad-2": 1.5}, objective="ecpm_cpc", k=10)
        for ad in ranking.ads:
            print(ad.ad_id, ad.p_ctr, ad.ecpm)
        client.record_events([("user-17", "ad-2")])

Candidates are ad-id strings of the catalogue, either a list (no bids) or a mapping ad id → bid.
Errors raise ServingError with the gRPC status and serving's message.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import grpc

from fedads.runtime.server import channel
from fedads.runtime.tls import Transport
from fedads.v1 import serving_pb2 as spb
from fedads.v1 import serving_pb2_grpc

OBJECTIVES = {"ctr": spb.OBJECTIVE_CTR, "cvr": spb.OBJECTIVE_CVR, "expected_revenue": spb.OBJECTIVE_EXPECTED_REVENUE,
              "ecpm_cpc": spb.OBJECTIVE_ECPM_CPC, "ecpm_ocpa": spb.OBJECTIVE_ECPM_OCPA}


class ServingError(RuntimeError):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code, self.message = code, message


@dataclass(frozen=True)
class ScoredAd:
    ad_id: str
    p_ctr: float
    p_cvr: float
    p_ctcvr: float
    value: float
    score: float
    ecpm: float


@dataclass(frozen=True)
class Ranking:
    model_version: int
    catalog_version: int
    history_length: int
    ads: list[ScoredAd]


def _candidates(candidates: Sequence[str] | Mapping[str, float]) -> list:
    if isinstance(candidates, Mapping):
        return [spb.Candidate(ad_id=str(a), bid=float(b)) for a, b in candidates.items()]
    if isinstance(candidates, str):
        raise TypeError("candidates is a list of ad ids (or a mapping ad id → bid), not one string")
    return [spb.Candidate(ad_id=str(a)) for a in candidates]


def _ads(predictions) -> list[ScoredAd]:
    return [ScoredAd(p.ad_id, p.p_ctr, p.p_cvr, p.p_ctcvr, p.value, p.score, p.ecpm) for p in predictions]


class ServingClient:
    def __init__(self, address: str, tls_dir: str | Path | None = None, insecure: bool = False,
                 timeout_s: float = 5.0):
        if tls_dir is None and not insecure:
            raise ValueError("give tls_dir (a folder with the application's certificate, key and the CA) or "
                             "insecure=True for a plaintext development server")
        transport = Transport.insecure() if tls_dir is None else Transport.from_dir(tls_dir)
        self._channel = channel(address, transport)
        self._stub = serving_pb2_grpc.ServingServiceStub(self._channel)
        self.timeout_s = timeout_s

    def _call(self, method, request):
        try:
            return method(request, timeout=self.timeout_s)
        except grpc.RpcError as exc:
            raise ServingError(exc.code(), exc.details() or "") from None

    def rank(self, user_id: str, candidates: Sequence[str] | Mapping[str, float], k: int = 0, objective: str = "ctr",
             model_version: int = 0) -> Ranking:
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
        r = self._call(self._stub.Rank, spb.RankRequest(user_id=user_id, candidates=_candidates(candidates), k=k,
                                                         objective=OBJECTIVES[objective], model_version=model_version))
        return Ranking(r.model_version, r.catalog_version, r.history_length, _ads(r.ranked))

    def predict(self, user_id: str, candidates: Sequence[str] | Mapping[str, float], model_version: int = 0) -> Ranking:
        r = self._call(self._stub.Predict, spb.PredictRequest(user_id=user_id, candidates=_candidates(candidates),
                                                               model_version=model_version))
        return Ranking(r.model_version, r.catalog_version, r.history_length, _ads(r.predictions))

    def record_events(self, events: Iterable[tuple[str, str]], action: str = "click") -> int:
        """Append (user id, ad id) behaviour events; the user's next rank or predict sees them."""
        stream = [spb.BehaviorEvent(user_id=str(u), ad_id=str(a), action=action) for u, a in events]
        return self._call(lambda it, timeout: self._stub.RecordEvents(iter(it), timeout=timeout), stream).recorded

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "ServingClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
