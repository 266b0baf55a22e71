"""The operator RPCs of training jobs, round stops, live progress and stage records (thin: logic in
coordinator/jobs.py, round_stop.py and watch.py)."""
from __future__ import annotations

import json
import time

import grpc

from coordinator.job_spec import JobSettings
from coordinator.jobs import JobRunner
from coordinator.watch import Watcher
from fedads.runtime.server import abort
from fedads.v1 import admin_pb2 as pb


def _ts(value) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value)) if value else ""


def job_to_proto(job: dict) -> pb.JobInfo:
    current = job["round_ids"][-1] if job["round_ids"] and job["state"] in ("RUNNING", "STOPPING") else 0
    return pb.JobInfo(job_id=job["job_id"], state=job["state"], spec_json=json.dumps(job["spec"]),
                      rounds_done=job["rounds_done"], round_ids=job["round_ids"], current_round_id=current,
                      reason=job["reason"], created_at=_ts(job["created_at"]), finished_at=_ts(job["finished_at"]),
                      best_value=job["best_value"] or 0.0, best_round_index=job["best_round_index"],
                      metrics_json=json.dumps(job["metrics"]))


def event_to_proto(ev: dict) -> pb.ProgressEvent:
    fields = {k: v for k, v in ev.items() if k != "metrics"}
    return pb.ProgressEvent(metrics_json=json.dumps(ev.get("metrics") or {}), **fields)


class JobAdminMixin:
    """Mixed into AdminServicer, which provides self.store, self.rounds, self._call and self.job_runner."""
    job_runner: JobRunner

    @property
    def _watcher(self) -> Watcher:
        return Watcher(self.store, self.job_runner.jobs)

    def SubmitJob(self, request, context):
        def submit():
            return job_to_proto(self.job_runner.jobs.get(self.job_runner.submit(JobSettings.from_proto(request.spec))))
        return self._call(context, submit)

    def GetJob(self, request, context):
        job = self.job_runner.jobs.get(request.job_id)
        if job is None:
            abort(context, grpc.StatusCode.NOT_FOUND,
                  f"job {request.job_id} does not exist" if request.job_id else "no job has run yet")
        return job_to_proto(job)

    def ListJobs(self, request, context):
        return pb.ListJobsResponse(jobs=[job_to_proto(j) for j in self.job_runner.jobs.list(request.limit)])

    def StopJob(self, request, context):
        return self._call(context, lambda: job_to_proto(self.job_runner.stop(request.job_id, request.reason)))

    def StopRound(self, request, context):
        from coordinator.admin_service import round_to_proto

        return self._call(context, lambda: round_to_proto(self.rounds.stop_round(request.round_id, request.reason)))

    def Watch(self, request, context):
        watcher = self._watcher
        if request.job_id:
            events = watcher.watch_job(request.job_id, context.is_active)
        else:
            round_id = request.round_id or (self.store.round(0) or {}).get("round_id", 0)
            if not round_id:
                abort(context, grpc.StatusCode.NOT_FOUND, "no round has run yet")
            events = watcher.watch_round(round_id, context.is_active)
        stream = iter(events)
        while True:
            ev = self._call(context, lambda: next(stream, None))
            if ev is None:
                return
            yield event_to_proto(ev)

    def ListStages(self, request, context):
        rnd = self.store.round(request.round_id)
        if rnd is None:
            abort(context, grpc.StatusCode.NOT_FOUND, f"round {request.round_id} does not exist")
        return pb.ListStagesResponse(stages=[
            pb.StageInfo(name=st["name"], started_at=st["started_at"], deadline=st["deadline"],
                         finished_at=st["finished_at"] or 0.0, outcome=st["outcome"], answered=st["answered"])
            for st in self.store.stages(rnd["round_id"])])

    def ListModelVersions(self, request, context):
        return pb.ListModelVersionsResponse(models=[
            pb.ModelVersionInfo(version=m["version"], parent_version=m["parent_version"], round_id=m["round_id"],
                                sha256=m["sha256"], size_bytes=m["size_bytes"], created_at=_ts(m["created_at"]),
                                metrics_json=json.dumps(m["metrics"])) for m in self.store.models()])
