"""Stopping a running round on the operator's word: aborted on the aggregator, nothing published, sites told.

A round stopped while it trains (or before its aggregate is made) fails with the operator's reason; its
driver thread notices within one poll and runs the usual failure path (SQL, audit, aggregator abort).
A round already past aggregation has published its model, so it completes and only its evaluation is cut short.
"""
from __future__ import annotations

import json
import logging
import time

from coordinator.store import ACTIVE_ROUND_STATES, StoreError
from fedads.v1 import coordinator_pb2 as cpb

log = logging.getLogger(__name__)


def stop_round(manager, round_id: int, reason: str, timeout_s: float = 60.0) -> dict:
    rnd = manager.store.round(round_id)
    if rnd is None:
        raise StoreError("not_found", f"round {round_id} does not exist")
    if rnd["state"] not in ACTIVE_ROUND_STATES:
        raise StoreError("precondition", f"round {round_id} already ended as {rnd['state']}")
    why = "stopped by the operator" + (f": {reason}" if reason else "")
    manager._stops[round_id] = why
    manager.audit_event("round_stop_requested", round_id, reason=reason, state=rnd["state"])
    log.warning("round stop requested", extra={"round_id": round_id, "state": rnd["state"], "reason": reason})
    manager.notify()
    thread = manager._threads.get(round_id)
    if thread is not None:
        thread.join(timeout_s)
    elif manager.store.fail_round(round_id, why):  # no driver in this process: end it here
        manager.audit_event("round_failed", round_id, reason=why)
        try:
            manager.aggregator.abort_round(round_id, why)
        except Exception:  # noqa: BLE001 - the aggregator may hold nothing of the round
            log.warning("could not abort round on the aggregator", extra={"round_id": round_id})
    after = manager.store.round(round_id)
    if after["state"] == "FAILED":
        _close_open_stages(manager.store, round_id)
        for p in after["participants"]:
            manager.hub.tell(p["site_id"], cpb.RoundTask(round_id=round_id, kind=cpb.TASK_KIND_ABORT))
    return after


def _close_open_stages(store, round_id: int) -> None:
    """The stage a stop interrupted is closed as "stopped", with the sites that had answered it."""
    from sqlalchemy import select

    from coordinator.schema import Stage

    with store.session() as s:
        for st in s.scalars(select(Stage).where(Stage.round_id == round_id, Stage.finished_at.is_(None))):
            parts = store.round(round_id)["participants"]
            answered = [p["site_id"] for p in parts if p["state"] in ("UPLOADED", "EVALUATED", "EVAL_FAILED")]
            st.finished_at, st.outcome, st.answered_json = time.time(), "stopped", json.dumps(sorted(answered))
