"""How `coordinatorctl watch` and `--wait` show progress: one updating line on a terminal, a line per
finished round, or JSON lines (one per event) with --json or when stdout is not a terminal."""
from __future__ import annotations

import json
import sys

from fedads.v1 import admin_pb2 as pb


def event_dict(ev: pb.ProgressEvent) -> dict:
    out = {"kind": ev.kind, "round_id": ev.round_id, "state": ev.state, "stage": ev.stage, "uploaded": ev.uploaded,
           "participants": ev.participants, "evaluated": ev.evaluated, "seconds_left": round(ev.seconds_left, 1),
           "metrics": json.loads(ev.metrics_json or "{}"), "result_version": ev.result_version,
           "failure_reason": ev.failure_reason}
    if ev.job_id:
        out.update(job_id=ev.job_id, job_round=ev.job_round, job_rounds=ev.job_rounds, job_state=ev.job_state,
                   job_reason=ev.job_reason)
    return out


def _metrics(m: dict) -> str:
    keys = [("hr_at_10", "hr@10"), ("ndcg_at_10", "ndcg@10"), ("loss", "loss")]
    return "  ".join(f"{label} {m[k]:.4f}" for k, label in keys if k in m) or "no metrics"


def describe(e: dict) -> str:
    if e["kind"] == "job_finished":
        return f"job {e['job_id']} {e['job_state']} after {e['job_round']}/{e['job_rounds']} rounds: {e['job_reason']}"
    job = f"job {e['job_id']} round {e['job_round']}/{e['job_rounds']}  " if e.get("job_id") else ""
    head = f"{job}round {e['round_id']} {e['state']}"
    if e["kind"] == "round_finished":
        if e["state"] == "FAILED":
            return f"{head}: {e['failure_reason']}"
        return f"{head}  model v{e['result_version']}  {_metrics(e['metrics'])}"
    stage = e["stage"] or "-"
    count = f"evaluated {e['evaluated']}/{e['uploaded']}" if stage == "evaluate" else \
        f"uploaded {e['uploaded']}/{e['participants']}"
    return f"{head}  stage {stage}  {count}  {e['seconds_left']:.0f}s left in stage"


class ProgressPrinter:
    def __init__(self, as_json: bool, out=None):
        self.out = out or sys.stdout
        self.as_json = as_json
        self.live = not as_json and self.out.isatty()
        self._width = 0
        self.last: dict | None = None

    def show(self, ev: pb.ProgressEvent) -> dict:
        e = event_dict(ev)
        self.last = e
        if self.as_json:
            print(json.dumps(e), file=self.out, flush=True)
        elif e["kind"] == "progress":
            if self.live:  # redraw one line in place
                text = describe(e)
                print("\r" + text.ljust(self._width), end="", file=self.out, flush=True)
                self._width = len(text)
        else:
            if self.live and self._width:
                print("\r" + " " * self._width + "\r", end="", file=self.out)
                self._width = 0
            print(describe(e), file=self.out, flush=True)
        return e
