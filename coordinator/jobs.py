"""Training jobs: the coordinator runs a job's rounds one after another until R rounds, its target
metric, its patience, a stop, or too many failed rounds end it.

Every step is in SQL before the next one starts (jobs and job_rounds tables), so a restarted
coordinator resumes each running job at its next round: the round the restart interrupted was
failed at start-up and is run again under the same schedule index.
"""
from __future__ import annotations

import logging
import threading
import time

from coordinator import metrics
from coordinator.job_spec import JobSettings
from coordinator.job_store import JobStore
from coordinator.rounds import RoundManager
from coordinator.store import CoordinatorStore, StoreError

log = logging.getLogger(__name__)


class JobRunner:
    def __init__(self, store: CoordinatorStore, rounds: RoundManager, audit=None, start_wait_s: float = 120.0,
                 poll_s: float = 0.5):
        self.store, self.rounds, self.audit = store, rounds, audit
        self.jobs = JobStore(store)
        # How long a job waits for enough sites (or for a single round the operator started) before it fails.
        self.start_wait_s = start_wait_s
        self.poll_s = poll_s
        self._threads: dict[int, threading.Thread] = {}
        self._wake = threading.Event()

    def _audit(self, kind: str, round_id: int = 0, **payload) -> None:
        if self.audit is not None:
            self.audit.append(kind, round_id, **payload)

    # --- operator actions ---
    def submit(self, spec: JobSettings) -> int:
        job_id = self.jobs.create(spec.to_dict())
        self._audit("job_submitted", 0, job_id=job_id, spec=spec.to_dict())
        log.info("job submitted", extra={"job_id": job_id, "rounds": spec.rounds, "schedule": spec.lr_schedule})
        self._spawn(job_id)
        return job_id

    def stop(self, job_id: int, reason: str = "") -> dict:
        job = self.jobs.get(job_id)
        if job is None:
            raise StoreError("not_found", f"job {job_id} does not exist")
        if not self.jobs.update(job_id, ("RUNNING",), state="STOPPING", reason="stopped by the operator"
                                + (f": {reason}" if reason else "")):
            if job["state"] != "STOPPING":
                raise StoreError("precondition", f"job {job_id} already ended as {job['state']}")
        self._audit("job_stop_requested", 0, job_id=job_id, reason=reason)
        active = self.store.active_round()
        if active is not None and active["round_id"] in job["round_ids"]:
            self.rounds.stop_round(active["round_id"], reason or f"job {job_id} stopped")
        self._wake.set()
        thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(30)
        return self.jobs.get(job_id)

    def resume(self) -> list[int]:
        """On start-up: carry on every job a previous process left running."""
        resumed = []
        for job in self.jobs.live():
            if job["state"] == "STOPPING":
                self._finish(job["job_id"], "STOPPED", job["reason"] or "stopped by the operator")
                continue
            self._audit("job_resumed", 0, job_id=job["job_id"], next_round=job["rounds_done"] + 1)
            log.info("job resumed", extra={"job_id": job["job_id"], "next_round": job["rounds_done"] + 1})
            self._spawn(job["job_id"])
            resumed.append(job["job_id"])
        return resumed

    def wait(self, job_id: int, timeout: float | None = None) -> None:
        thread = self._threads.get(job_id)
        if thread:
            thread.join(timeout)

    # --- the driver ---
    def _spawn(self, job_id: int) -> None:
        thread = threading.Thread(target=self._run, args=(job_id,), daemon=True, name=f"job-{job_id}")
        self._threads[job_id] = thread
        thread.start()

    def _finish(self, job_id: int, state: str, reason: str) -> None:
        if self.jobs.update(job_id, state=state, reason=reason):
            job = self.jobs.get(job_id)
            metrics.JOBS.labels(state).inc()
            self._audit("job_finished", 0, job_id=job_id, state=state, reason=reason,
                        rounds_done=job["rounds_done"], best_value=job["best_value"])
            log.info("job finished", extra={"job_id": job_id, "state": state, "reason": reason})

    def _run(self, job_id: int) -> None:
        try:
            while self._step(job_id):
                pass
        except Exception as exc:  # noqa: BLE001 - a job must end visibly, never hang RUNNING
            log.exception("job failed", extra={"job_id": job_id})
            self._finish(job_id, "FAILED", f"{type(exc).__name__}: {exc}")

    def _step(self, job_id: int) -> bool:
        """Run the job's next round; False once the job has ended."""
        job = self.jobs.get(job_id)
        if job["state"] == "STOPPING":
            self._finish(job_id, "STOPPED", job["reason"])
            return False
        if job["state"] != "RUNNING":
            return False
        spec = JobSettings.from_dict(job["spec"])
        index = job["rounds_done"]
        if index >= spec.rounds:
            self._finish(job_id, "COMPLETED", f"ran all {spec.rounds} rounds")
            return False
        round_id = self._start(job_id, spec, index)
        if round_id is None:
            return self.jobs.get(job_id)["state"] in ("RUNNING", "STOPPING")
        self.rounds.wait(round_id)
        rnd = self.store.round(round_id)
        if rnd["state"] == "COMPLETED":
            self._completed(job_id, spec, index, rnd)
        elif self.jobs.get(job_id)["state"] == "STOPPING":
            self._finish(job_id, "STOPPED", self.jobs.get(job_id)["reason"])
            return False
        else:
            streak = job["failed_streak"] + 1
            self.jobs.update(job_id, failed_streak=streak)
            if streak >= spec.max_failed_rounds:
                self._finish(job_id, "FAILED", f"{streak} rounds in a row failed; the last: {rnd['failure_reason']}")
                return False
        return True

    def _start(self, job_id: int, spec: JobSettings, index: int) -> int | None:
        """Start job round index+1, waiting (bounded) while too few sites are online or another round runs."""
        deadline = time.time() + self.start_wait_s
        while True:
            if self.jobs.get(job_id)["state"] != "RUNNING":
                return None
            try:
                round_id = self.rounds.start_round(spec.round_settings(index))
            except StoreError as exc:
                if exc.kind != "precondition" or "refused" in str(exc) or time.time() > deadline:
                    self._finish(job_id, "FAILED", f"round {index + 1} could not start: {exc}")
                    return None
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            self.jobs.add_round(job_id, round_id, index + 1)
            self._audit("job_round_started", round_id, job_id=job_id, job_round=index + 1,
                        learning_rate=spec.learning_rate(index))
            if self.jobs.get(job_id)["state"] == "STOPPING":  # stopped while this round was being started
                self.rounds.stop_round(round_id, self.jobs.get(job_id)["reason"])
            return round_id

    def _completed(self, job_id: int, spec: JobSettings, index: int, rnd: dict) -> None:
        job = self.jobs.get(job_id)
        fields = {"rounds_done": index + 1, "failed_streak": 0, "metrics_json": rnd["metrics"]}
        value = rnd["metrics"].get(spec.target_metric) if spec.target_metric else None
        best, best_index = job["best_value"], job["best_round_index"]
        if value is not None and spec.better(value, best):
            best, best_index = value, index + 1
            fields.update(best_value=best, best_round_index=best_index)
        self.jobs.update(job_id, **fields)
        if value is not None and spec.reached(value):
            self._finish(job_id, "COMPLETED", f"{spec.target_metric} reached {value:.4f} "
                                              f"(target {spec.target_value:g}) in round {index + 1}")
        elif spec.patience and best_index and index + 1 - best_index >= spec.patience:
            self._finish(job_id, "COMPLETED", f"no better {spec.target_metric} for {spec.patience} rounds "
                                              f"(best {best:.4f} in round {best_index})")
