"""coordinatorctl's training-job, stop, watch and logs commands."""
from __future__ import annotations

import json
import time

from coordinator.ctl_progress import ProgressPrinter
from coordinator.ctl_round_flags import add_round_flags, round_config
from coordinator.job_spec import SCHEDULES, JobSettings
from fedads.v1 import admin_pb2 as pb

JD = JobSettings()


def _job_dict(j: pb.JobInfo) -> dict:
    return {"job_id": j.job_id, "state": j.state, "rounds_done": j.rounds_done, "round_ids": list(j.round_ids),
            "current_round_id": j.current_round_id, "reason": j.reason, "created_at": j.created_at,
            "finished_at": j.finished_at, "best_value": j.best_value, "best_round_index": j.best_round_index,
            "metrics": json.loads(j.metrics_json or "{}"), "spec": json.loads(j.spec_json or "{}")}


def _job_row(j: dict) -> dict:
    spec = j["spec"]
    return {"job": j["job_id"], "name": spec.get("name") or "-", "state": j["state"],
            "rounds": f"{j['rounds_done']}/{spec.get('rounds', '?')}", "schedule": spec.get("lr_schedule", "-"),
            "round": j["current_round_id"] or "-",
            "best": f"{spec['target_metric']} {j['best_value']:.4f} (r{j['best_round_index']})"
            if spec.get("target_metric") and j["best_round_index"] else "-",
            "reason": j["reason"][:60]}


JOB_COLUMNS = ["job", "name", "state", "rounds", "schedule", "round", "best", "reason"]


def follow(admin, request: pb.WatchRequest, as_json: bool) -> dict | None:
    """Print a round's or a job's progress until it ends; returns the last event."""
    printer = ProgressPrinter(as_json)
    for ev in admin.Watch(request):
        printer.show(ev)
    return printer.last


def _exit_code(last: dict | None) -> int:
    if last is None:
        return 1
    if last["kind"] == "job_finished":
        return 1 if last["job_state"] == "FAILED" else 0
    return 1 if last["state"] == "FAILED" else 0


def cmd_run(admin, args, table) -> int:
    spec = pb.JobSpec(config=round_config(args), rounds=args.rounds, lr_schedule=args.lr_schedule, lr_min=args.lr_min,
                      lr_step_rounds=args.lr_step_rounds, lr_step_gamma=args.lr_step_gamma,
                      target_metric=args.target_metric, target_value=args.target_value, patience=args.patience,
                      name=args.name, accept_noise=args.accept_noise, max_failed_rounds=args.max_failed_rounds)
    job = _job_dict(admin.SubmitJob(pb.SubmitJobRequest(spec=spec), timeout=120))
    if not args.wait:
        print(json.dumps(job, indent=1) if args.json else table([_job_row(job)], JOB_COLUMNS))
        return 0
    if not args.json:
        print(f"job {job['job_id']} submitted: {args.rounds} rounds, lr schedule {args.lr_schedule}")
    return _exit_code(follow(admin, pb.WatchRequest(job_id=job["job_id"]), args.json))


def cmd_jobs(admin, args, table) -> int:
    jobs = [_job_dict(j) for j in admin.ListJobs(pb.ListRoundsRequest(limit=args.limit), timeout=30).jobs]
    print(json.dumps(jobs, indent=1) if args.json else table([_job_row(j) for j in jobs], JOB_COLUMNS))
    return 0


def cmd_job(admin, args, table) -> int:
    job = _job_dict(admin.GetJob(pb.GetJobRequest(job_id=args.job_id), timeout=30))
    if args.json:
        print(json.dumps(job, indent=1))
        return 0
    print(table([_job_row(job)], JOB_COLUMNS))
    print(f"rounds: {', '.join(map(str, job['round_ids'])) or '(none yet)'}")
    print(f"settings: {json.dumps({k: v for k, v in job['spec'].items() if k != 'round'}, sort_keys=True)}")
    return 0


def cmd_stop(admin, args, table) -> int:
    job = _job_dict(admin.StopJob(pb.StopJobRequest(job_id=args.job_id, reason=args.reason), timeout=120))
    print(json.dumps(job, indent=1) if args.json else f"job {job['job_id']} {job['state']}: {job['reason']}")
    return 0


def cmd_stop_round(admin, args, table) -> int:
    r = admin.StopRound(pb.StopRoundRequest(round_id=args.round_id, reason=args.reason), timeout=120)
    out = {"round_id": r.round_id, "state": r.state, "failure_reason": r.failure_reason,
           "result_version": r.result_version}
    if args.json:
        print(json.dumps(out))
    elif r.state == "FAILED":
        print(f"round {r.round_id} stopped: {r.failure_reason}; nothing published")
    else:
        print(f"round {r.round_id} is {r.state}: its model was already published, so it finishes without "
              "the rest of its evaluation")
    return 0


def cmd_watch(admin, args, table) -> int:
    if args.job:
        request = pb.WatchRequest(job_id=args.job)
    elif args.round:
        request = pb.WatchRequest(round_id=args.round)
    else:  # the running job, else the newest round
        live = [j for j in admin.ListJobs(pb.ListRoundsRequest(limit=1), timeout=30).jobs
                if j.state in ("RUNNING", "STOPPING")]
        request = pb.WatchRequest(job_id=live[0].job_id) if live else pb.WatchRequest()
    return _exit_code(follow(admin, request, args.json))


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}"


def cmd_logs(admin, args, table) -> int:
    """A round's events in time order: its signed audit records and its stage records."""
    events = [{"time": json.loads(r.body_json)["time"], "source": "audit", "event": json.loads(r.body_json)["kind"],
               "details": json.loads(r.body_json)["payload"]}
              for r in admin.ExportAudit(pb.ExportAuditRequest(round_id=args.round_id), timeout=60)]
    for st in admin.ListStages(pb.GetRoundRequest(round_id=args.round_id), timeout=30).stages:
        events.append({"time": st.started_at, "source": "stage", "event": f"{st.name} opened",
                       "details": {"deadline_s": round(st.deadline - st.started_at, 1)}})
        if st.finished_at:
            events.append({"time": st.finished_at, "source": "stage", "event": f"{st.name} closed",
                           "details": {"outcome": st.outcome, "answered": list(st.answered)}})
    events.sort(key=lambda e: e["time"])
    if args.json:
        for e in events:
            print(json.dumps(e, sort_keys=True))
        return 0
    print(table([{**e, "time": _when(e["time"]), "details": json.dumps(e["details"], sort_keys=True)[:100]}
                 for e in events], ["time", "source", "event", "details"]))
    return 0


def add_job_commands(sub, bind) -> None:
    """`bind(fn)` wraps a command so it receives (admin, args, table)."""
    s = sub.add_parser("run", help="submit a training job: many rounds with a schedule and stop criteria")
    add_round_flags(s)
    s.add_argument("--rounds", type=int, default=JD.rounds, help="R: rounds to run at most")
    s.add_argument("--lr-schedule", default=JD.lr_schedule, choices=list(SCHEDULES),
                   help="learning rate per round: constant; cosine from --lr to --lr-min; step: × --lr-step-gamma "
                        "every --lr-step-rounds")
    s.add_argument("--lr-min", type=float, default=JD.lr_min, help="cosine: the rate of the last round")
    s.add_argument("--lr-step-rounds", type=int, default=JD.lr_step_rounds, help="step: rounds between decays")
    s.add_argument("--lr-step-gamma", type=float, default=JD.lr_step_gamma, help="step: factor of each decay")
    s.add_argument("--target-metric", default=JD.target_metric,
                   help="round metric the stop criteria watch, e.g. hr_at_10 or ndcg_at_10 (loss: lower is better)")
    s.add_argument("--target-value", type=float, default=JD.target_value,
                   help="stop once --target-metric reaches this (0: no target)")
    s.add_argument("--patience", type=int, default=JD.patience,
                   help="stop after this many rounds without a new best --target-metric (0: never)")
    s.add_argument("--max-failed-rounds", type=int, default=JD.max_failed_rounds,
                   help="the job fails after this many failed rounds in a row")
    s.add_argument("--name", default="", help="a label for the job")
    s.add_argument("--wait", action="store_true", help="show progress until the job ends; exit 1 if it failed")
    s.set_defaults(fn=bind(cmd_run))
    s = sub.add_parser("jobs", help="list training jobs")
    s.add_argument("--limit", type=int, default=20, help="newest jobs to show")
    s.set_defaults(fn=bind(cmd_jobs))
    s = sub.add_parser("job", help="show one training job")
    s.add_argument("job_id", type=int, nargs="?", default=0, help="job id (0: newest)")
    s.set_defaults(fn=bind(cmd_job))
    s = sub.add_parser("stop", help="stop a training job; its running round is aborted and publishes nothing")
    s.add_argument("job_id", type=int, help="job id")
    s.add_argument("--reason", default="", help="recorded in the audit log")
    s.set_defaults(fn=bind(cmd_stop))
    s = sub.add_parser("stop-round", help="stop a running round: aborted on the aggregator, nothing published")
    s.add_argument("round_id", type=int, help="round id")
    s.add_argument("--reason", default="", help="recorded in the audit log")
    s.set_defaults(fn=bind(cmd_stop_round))
    s = sub.add_parser("watch", help="follow a job's or a round's progress until it ends")
    s.add_argument("--job", type=int, default=0, help="job id (default: the running job, else the newest round)")
    s.add_argument("--round", type=int, default=0, help="round id")
    s.set_defaults(fn=bind(cmd_watch))
    s = sub.add_parser("logs", help="a round's events: audit records and stage records in time order")
    s.add_argument("round_id", type=int, help="round id")
    s.set_defaults(fn=bind(cmd_logs))
