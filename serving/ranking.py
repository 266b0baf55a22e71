"""How serving turns a request into scores and an order: ad ids → indices, objectives, eCPM. No gRPC here."""
from __future__ import annotations

from dataclasses import dataclass

from fedads.v1 import serving_pb2 as spb

MAX_CANDIDATES = 1000
MAX_USER_ID = 256
MAX_AD_ID = 256
SHOW = 5
BID_OBJECTIVES = {spb.OBJECTIVE_ECPM_CPC: "p_ctr", spb.OBJECTIVE_ECPM_OCPA: "p_ctcvr"}


class RequestError(ValueError):
    """A request that cannot be served as sent (→ INVALID_ARGUMENT)."""


@dataclass
class Resolved:
    ad_ids: list[str]
    indices: list[int]
    bids: list[float]


def check_user(user_id: str) -> None:
    if not user_id or len(user_id) > MAX_USER_ID:
        raise RequestError(f"user_id must be 1-{MAX_USER_ID} characters")


def resolve(candidates, ad_index: dict, catalog_version: int) -> Resolved:
    if not candidates:
        raise RequestError("no candidates given")
    if len(candidates) > MAX_CANDIDATES:
        raise RequestError(f"{len(candidates)} candidates exceed the limit of {MAX_CANDIDATES} per request")
    ids = [c.ad_id for c in candidates]
    indices = [ad_index.get(a, 0) for a in ids]
    unknown = [a for a, i in zip(ids, indices) if i == 0]
    if unknown:
        shown = ", ".join(repr(a[:MAX_AD_ID]) for a in unknown[:SHOW])
        raise RequestError(f"{len(unknown)} ad id(s) not in the served model's catalogue (version {catalog_version}): "
                           f"{shown}{' ...' if len(unknown) > SHOW else ''}")
    bids = [float(c.bid) for c in candidates]
    bad = [a for a, b in zip(ids, bids) if not (b >= 0 and b < float("inf"))]
    if bad:
        raise RequestError(f"bids must be finite and ≥ 0; not so for {', '.join(map(repr, bad[:SHOW]))}")
    return Resolved(ids, indices, bids)


def history_indices(ad_ids: list[str], ad_index: dict) -> list[int]:
    """The user's recorded behaviour by the model's catalogue (ads it does not hold are left out)."""
    return [i for i in (ad_index.get(a, 0) for a in ad_ids) if i]


def check_objective(objective: int) -> None:
    if objective not in spb.Objective.values():  # proto3 keeps unknown enum numbers as ints
        raise RequestError(f"objective {objective} is not one of {', '.join(spb.Objective.keys())}")


def objective_scores(objective: int, scores: dict, bids: list[float]) -> list[float]:
    check_objective(objective)
    if objective in BID_OBJECTIVES:
        if not any(bids):
            raise RequestError(f"{spb.Objective.Name(objective)} ranks by bid × "
                               f"{BID_OBJECTIVES[objective][2:].upper()}: give each candidate its bid")
        return [b * p for b, p in zip(bids, scores[BID_OBJECTIVES[objective]])]
    if objective == spb.OBJECTIVE_CVR:
        return scores["p_ctcvr"]
    if objective == spb.OBJECTIVE_EXPECTED_REVENUE:
        return [p * max(v, 0.0) for p, v in zip(scores["p_ctcvr"], scores["value"])]
    return scores["p_ctr"]


def ecpm(objective: int, scores: dict, bids: list[float]) -> list[float]:
    """Expected revenue per thousand impressions at each bid: bid × P(billed event) × 1000."""
    key = BID_OBJECTIVES.get(objective, "p_ctr")
    return [1000.0 * b * p for b, p in zip(bids, scores[key])]
