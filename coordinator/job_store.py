"""SQL state of training jobs: the spec, progress through its rounds, and how it ended."""
from __future__ import annotations

import json
import time

from sqlalchemy import select

from coordinator.schema import Job, JobRound
from coordinator.store import CoordinatorStore, StoreError

LIVE_JOB_STATES = ("RUNNING", "STOPPING")
FINAL_JOB_STATES = ("COMPLETED", "STOPPED", "FAILED")


class JobStore:
    def __init__(self, store: CoordinatorStore):
        self.store = store

    def create(self, spec: dict) -> int:
        with self.store.session() as s:
            live = s.scalars(select(Job).where(Job.state.in_(LIVE_JOB_STATES))).first()
            if live is not None:
                raise StoreError("precondition", f"job {live.job_id} is still running; stop it first "
                                                 f"(`coordinatorctl stop {live.job_id}`)")
            job = Job(state="RUNNING", spec_json=json.dumps(spec), created_at=time.time(), reason="",
                      rounds_done=0, failed_streak=0, best_round_index=0, metrics_json="{}")
            s.add(job)
            s.flush()
            return job.job_id

    def get(self, job_id: int) -> dict | None:
        with self.store.session() as s:
            job = s.get(Job, job_id) if job_id else s.scalars(select(Job).order_by(Job.job_id.desc())).first()
            return self._dict(s, job) if job else None

    def list(self, limit: int = 50) -> list[dict]:
        with self.store.session() as s:
            q = select(Job).order_by(Job.job_id.desc()).limit(limit or 50)
            return [self._dict(s, j) for j in s.scalars(q)]

    def live(self) -> list[dict]:
        with self.store.session() as s:
            return [self._dict(s, j) for j in s.scalars(select(Job).where(Job.state.in_(LIVE_JOB_STATES)))]

    def update(self, job_id: int, expect_states: tuple[str, ...] = LIVE_JOB_STATES, **fields) -> bool:
        """Compare-and-set on the job's state; a final state also stamps finished_at."""
        with self.store.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.state not in expect_states:
                return False
            for k, v in fields.items():
                setattr(job, k, json.dumps(v) if k == "metrics_json" and not isinstance(v, str) else v)
            if fields.get("state") in FINAL_JOB_STATES:
                job.finished_at = time.time()
            return True

    def add_round(self, job_id: int, round_id: int, job_round: int) -> None:
        with self.store.session() as s:
            s.add(JobRound(job_id=job_id, round_id=round_id, job_round=job_round))

    def job_of_round(self, round_id: int) -> tuple[int, int] | None:
        """(job id, 1-based index in the job) of a round a job started."""
        with self.store.session() as s:
            jr = s.get(JobRound, round_id)
            return (jr.job_id, jr.job_round) if jr else None

    @staticmethod
    def _dict(s, job: Job) -> dict:
        rounds = [r.round_id for r in s.scalars(select(JobRound).where(JobRound.job_id == job.job_id)
                                                  .order_by(JobRound.round_id))]
        return {"job_id": job.job_id, "state": job.state, "spec": json.loads(job.spec_json),
                "created_at": job.created_at, "finished_at": job.finished_at, "reason": job.reason,
                "rounds_done": job.rounds_done, "failed_streak": job.failed_streak, "best_value": job.best_value,
                "best_round_index": job.best_round_index, "metrics": json.loads(job.metrics_json or "{}"),
                "round_ids": rounds}
