"""Training jobs on real processes: a job runs its rounds on its schedule with live progress, `stop`
ends a running round with nothing published and the sites told, and a job resumes at its next round
after kill -9 of the coordinator."""
from __future__ import annotations

import json
import signal
from functools import partial

import pytest

from coordinator.job_spec import JobSettings
from coordinator.round_config import RoundConfigError, RoundSettings
from fedads.runtime.registry import ModelRegistry
from tests.helpers import registry_snapshot, wait_until


_until = partial(wait_until, timeout=120.0)


def test_learning_rate_schedules_and_stop_criteria():
    base = RoundSettings(learning_rate=0.01, seed=7)
    cosine = JobSettings(round=base, rounds=5, lr_schedule="cosine", lr_min=0.001)
    rates = [cosine.learning_rate(k) for k in range(5)]
    assert rates[0] == pytest.approx(0.01) and rates[-1] == pytest.approx(0.001)
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert rates[2] == pytest.approx(0.0055)  # half-way: the mean of the two ends
    step = JobSettings(round=base, rounds=6, lr_schedule="step", lr_step_rounds=2, lr_step_gamma=0.5)
    assert [step.learning_rate(k) for k in range(6)] == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025])
    assert [s.seed for s in (step.round_settings(0), step.round_settings(3))] == [7, 10]
    hr = JobSettings(round=base, target_metric="hr_at_10", target_value=0.5, patience=2)
    assert hr.better(0.3, 0.2) and not hr.better(0.2, 0.3) and hr.reached(0.5) and not hr.reached(0.49)
    loss = JobSettings(round=base, target_metric="loss", target_value=1.0)
    assert loss.better(0.9, 1.1) and loss.reached(0.9) and not loss.reached(1.1)
    for bad, message in [(dict(rounds=0), "rounds"), (dict(lr_schedule="linear"), "lr schedule"),
                         (dict(lr_schedule="step"), "lr-step-rounds"), (dict(patience=3), "--target-metric"),
                         (dict(lr_min=0.5), "lr-min")]:
        with pytest.raises(RoundConfigError, match=message):
            JobSettings(round=base, **bad).validate()
    assert JobSettings.from_dict(cosine.to_dict()) == cosine


def _audit(fed, round_id=0):
    return [r["body"] for r in fed.ctl_json("audit", "--verify", *(["--round", str(round_id)] if round_id else []))]


def test_job_runs_watches_stops_and_resumes_after_kill_9(federation_factory):
    fed = federation_factory(n_sites=2).start()
    registry = ModelRegistry(fed.registry)

    # A 2-round job on a cosine schedule, followed live as JSON lines (--json after the subcommand).
    res = fed.ctl("run", "--rounds", "2", "--min-sites", "2", "--lr", "0.002", "--lr-schedule", "cosine",
                  "--lr-min", "0.001", "--target-metric", "hr_at_10", "--wait", "--json")
    events = [json.loads(line) for line in res.stdout.splitlines()]
    finished = [e for e in events if e["kind"] == "round_finished"]
    assert [e["state"] for e in finished] == ["COMPLETED", "COMPLETED"]
    assert [e["job_round"] for e in finished] == [1, 2] and all(e["job_rounds"] == 2 for e in finished)
    assert all(e["uploaded"] == e["participants"] == 2 and "hr_at_10" in e["metrics"] for e in finished)
    training = [e for e in events if e["kind"] == "progress" and e["stage"] == "train"]
    assert training and all(e["participants"] == 2 and 0 < e["seconds_left"] <= 600 for e in training)
    assert events[-1]["kind"] == "job_finished" and events[-1]["job_state"] == "COMPLETED"
    job = fed.ctl_json("job")
    assert job["state"] == "COMPLETED" and job["rounds_done"] == 2 and "ran all 2 rounds" in job["reason"]
    rates = [fed.ctl_json("round", str(r))["config"]["learning_rate"] for r in job["round_ids"]]
    assert rates == pytest.approx([0.002, 0.001])
    assert job["best_value"] == max(e["metrics"]["hr_at_10"] for e in finished)
    # Each version's metrics, from the coordinator's store of record.
    models = {m["version"]: m for m in fed.ctl_json("models")}
    for e in finished:
        assert models[e["result_version"]]["metrics"]["hr_at_10"] == pytest.approx(e["metrics"]["hr_at_10"])

    # Stop a job while its round trains: aborted, nothing published, sites told, all in the audit log.
    fed.agents["site-02"].send_signal(signal.SIGSTOP)  # keeps the round in its training stage
    job2 = fed.ctl_json("run", "--rounds", "3", "--min-sites", "2")
    round_id = _until(lambda: (j := fed.ctl_json("job", str(job2["job_id"])))["current_round_id"]
                      and fed.ctl_json("round", str(j["current_round_id"]))["state"] == "TRAINING"
                      and j["current_round_id"], what="the job's first round training")
    before = registry_snapshot(registry)
    scraped = fed.metrics()  # the coordinator's gauges show the round, job, stage and version of record
    assert f"fedads_active_round {float(round_id)}" in scraped
    assert f"fedads_active_job {float(job2['job_id'])}" in scraped
    assert 'fedads_round_stage{stage="train"} 1.0' in scraped and 'fedads_round_stage{stage="aggregate"} 0.0' in scraped
    assert f"fedads_latest_model_version {float(max(before))}" in scraped
    stopped = fed.ctl_json("stop", str(job2["job_id"]), "--reason", "operator test")
    assert stopped["state"] == "STOPPED" and "operator test" in stopped["reason"]
    rnd = fed.ctl_json("round", str(round_id))
    assert rnd["state"] == "FAILED" and "stopped by the operator" in rnd["failure_reason"]
    assert rnd["result_version"] == 0 and registry_snapshot(registry) == before
    kinds = [b["kind"] for b in _audit(fed, round_id)]
    assert kinds.index("round_stop_requested") < kinds.index("round_failed")
    assert "model_published" not in kinds
    fed.agents["site-02"].send_signal(signal.SIGCONT)
    assert any(b["kind"] == "job_stop_requested" and b["payload"]["job_id"] == job2["job_id"] for b in _audit(fed))
    _until(lambda: all("round stopped by the coordinator" in (fed.workdir / f"{s.site_id}.log").read_text()
                       for s in fed.sites), what="both sites told of the stop")
    logs = [json.loads(line) for line in fed.ctl("logs", str(round_id), "--json").stdout.splitlines()]
    # The job's own record of the round (job_round_started) is written by the job runner once the round has
    # started, so it may fall before or after the stage's opening: only the round's own order is fixed.
    names = [e["event"] for e in logs]
    assert names[0] == "round_started" and names.index("train opened") < names.index("train closed")
    assert logs == sorted(logs, key=lambda e: e["time"])
    again = fed.ctl("stop", str(job2["job_id"]), check=False)
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and "already ended as STOPPED" in again.stderr

    # kill -9 of the coordinator in the middle of a job: site-02 is paused before the job starts, so its
    # first round cannot finish however fast rounds run; after the restart the job resumes at its next
    # round and runs all of them.
    fed.agents["site-02"].send_signal(signal.SIGSTOP)
    job3 = fed.ctl_json("run", "--rounds", "3", "--min-sites", "2")
    _until(lambda: fed.ctl_json("job", str(job3["job_id"]))["round_ids"], what="the job's first round to start")
    at_kill = fed.ctl_json("job", str(job3["job_id"]))
    assert at_kill["state"] == "RUNNING" and at_kill["rounds_done"] == 0
    fed.services["coordinator"].send_signal(signal.SIGKILL)
    fed.services["coordinator"].wait()
    fed.start_coordinator()
    fed.agents["site-02"].send_signal(signal.SIGCONT)
    done = _until(lambda: (j := fed.ctl_json("job", str(job3["job_id"])))["state"] != "RUNNING" and j,
                  timeout=240, what="the resumed job's end")
    assert done["state"] == "COMPLETED" and done["rounds_done"] == 3, done
    records = _audit(fed)
    resumed = [b for b in records if b["kind"] == "job_resumed" and b["payload"]["job_id"] == job3["job_id"]]
    assert len(resumed) == 1 and resumed[0]["payload"]["next_round"] >= at_kill["rounds_done"] + 1
    started = {b["round_id"]: b["payload"]["job_round"] for b in records if b["kind"] == "job_round_started"
               and b["payload"]["job_id"] == job3["job_id"]}
    assert sorted(set(started.values())) == [1, 2, 3] and set(started) == set(done["round_ids"])
    for rid in done["round_ids"]:
        r = fed.ctl_json("round", str(rid))
        assert r["state"] == "COMPLETED" or "coordinator restarted" in r["failure_reason"], r


def test_progress_display_on_a_terminal_and_as_json_lines():
    import io

    from coordinator.ctl_progress import ProgressPrinter
    from fedads.v1 import admin_pb2 as pb

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    events = [pb.ProgressEvent(kind="progress", round_id=4, state="TRAINING", stage="train", uploaded=1,
                               participants=3, seconds_left=42.4, job_id=2, job_round=1, job_rounds=5),
              pb.ProgressEvent(kind="round_finished", round_id=4, state="COMPLETED", uploaded=3, participants=3,
                               result_version=7, metrics_json='{"hr_at_10": 0.41, "ndcg_at_10": 0.22}', job_id=2,
                               job_round=1, job_rounds=5)]
    tty, pipe = Terminal(), io.StringIO()
    for ev in events:
        ProgressPrinter(False, tty).show(ev)
        ProgressPrinter(True, pipe).show(ev)
    screen = tty.getvalue()
    assert screen.startswith("\rjob 2 round 1/5  round 4 TRAINING  stage train  uploaded 1/3  42s left in stage")
    assert screen.rstrip().endswith("job 2 round 1/5  round 4 COMPLETED  model v7  hr@10 0.4100  ndcg@10 0.2200")
    lines = [json.loads(line) for line in pipe.getvalue().splitlines()]
    assert [e["kind"] for e in lines] == ["progress", "round_finished"]
    assert lines[0]["uploaded"] == 1 and lines[0]["participants"] == 3 and lines[1]["metrics"]["hr_at_10"] == 0.41
    # Off a terminal without --json only finished rounds are printed, one line each.
    plain = io.StringIO()
    for ev in events:
        ProgressPrinter(False, plain).show(ev)
    assert plain.getvalue().count("\n") == 1 and "COMPLETED" in plain.getvalue()
