"""Live progress of a round or a job, for the Watch RPC: stage, uploads k/n, time left, metrics.

The coordinator samples SQL (rounds, participants, stages, jobs) every poll and sends an event when
something an operator sees changed, and at least every `heartbeat_s` so the time left counts down.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Iterator

from coordinator.job_store import FINAL_JOB_STATES, JobStore
from coordinator.store import TERMINAL_ROUND_STATES, CoordinatorStore, StoreError

UPLOADED_STATES = ("UPLOADED", "EVALUATED", "EVAL_FAILED")


def round_snapshot(store: CoordinatorStore, jobs: JobStore, round_id: int) -> dict:
    rnd = store.round(round_id)
    if rnd is None:
        raise StoreError("not_found", f"round {round_id} does not exist")
    open_stages = [st for st in store.stages(round_id) if st["finished_at"] is None]
    stage = open_stages[-1] if open_stages and rnd["state"] not in TERMINAL_ROUND_STATES else None
    parts = rnd["participants"]
    out = {"kind": "progress", "round_id": round_id, "state": rnd["state"], "stage": stage["name"] if stage else "",
           "uploaded": sum(p["state"] in UPLOADED_STATES for p in parts), "participants": len(parts),
           "evaluated": sum(p["state"] == "EVALUATED" for p in parts),
           "seconds_left": max(0.0, stage["deadline"] - time.time()) if stage else 0.0,
           "metrics": rnd["metrics"], "failure_reason": rnd["failure_reason"],
           "result_version": rnd["result_version"]}
    link = jobs.job_of_round(round_id)
    if link:
        job = jobs.get(link[0])
        out.update(job_id=link[0], job_round=link[1], job_rounds=job["spec"]["rounds"], job_state=job["state"])
    return out


def _visible(ev: dict) -> tuple:
    return tuple(v for k, v in sorted(ev.items()) if k != "seconds_left")


class Watcher:
    def __init__(self, store: CoordinatorStore, jobs: JobStore, poll_s: float = 0.25, heartbeat_s: float = 1.0):
        self.store, self.jobs, self.poll_s, self.heartbeat_s = store, jobs, poll_s, heartbeat_s

    def _pace(self, alive: Callable[[], bool]) -> bool:
        threading.Event().wait(self.poll_s)
        return alive()

    def watch_round(self, round_id: int, alive: Callable[[], bool] = lambda: True) -> Iterator[dict]:
        last, sent_at = None, 0.0
        while True:
            ev = round_snapshot(self.store, self.jobs, round_id)
            if ev["state"] in TERMINAL_ROUND_STATES:
                yield {**ev, "kind": "round_finished"}
                return
            if _visible(ev) != last or time.time() - sent_at >= self.heartbeat_s:
                last, sent_at = _visible(ev), time.time()
                yield ev
            if not self._pace(alive):
                return

    def watch_job(self, job_id: int, alive: Callable[[], bool] = lambda: True) -> Iterator[dict]:
        job = self.jobs.get(job_id)
        if job is None:
            raise StoreError("not_found", f"job {job_id} does not exist")
        job_id = job["job_id"]
        seen: set[int] = set()
        while True:
            job = self.jobs.get(job_id)
            for rid in job["round_ids"]:
                if rid in seen:
                    continue
                for ev in self.watch_round(rid, alive):
                    yield ev
                seen.add(rid)
                if not alive():
                    return
                job = self.jobs.get(job_id)
            if job["state"] in FINAL_JOB_STATES and set(job["round_ids"]) <= seen:
                yield {"kind": "job_finished", "job_id": job_id, "job_state": job["state"], "job_reason": job["reason"],
                       "job_round": job["rounds_done"], "job_rounds": job["spec"]["rounds"], "metrics": job["metrics"]}
                return
            if not self._pace(alive):
                return
