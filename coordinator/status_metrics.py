"""Gauges read from SQL at scrape time, so they show the state of record rather than the last event:
active round, its stage, the running job and the newest published model version."""
from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily

STAGES = ("train", "aggregate", "evaluate")


class _StatusCollector:
    def __init__(self):
        self.store = self.jobs = None

    def describe(self):
        return []

    def collect(self):
        if self.store is None:
            return
        try:
            active = self.store.active_round()
            live = self.jobs.live()
            open_stage = ""
            if active:
                open_stages = [st["name"] for st in self.store.stages(active["round_id"]) if st["finished_at"] is None]
                open_stage = open_stages[-1] if open_stages else ""
            latest = self.store.latest_model_version()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database is briefly unreachable
            return
        yield GaugeMetricFamily("fedads_active_round", "Id of the round running now (0: none)",
                                value=active["round_id"] if active else 0)
        yield GaugeMetricFamily("fedads_active_job", "Id of the training job running now (0: none)",
                                value=live[0]["job_id"] if live else 0)
        stage = GaugeMetricFamily("fedads_round_stage", "1 for the stage the active round is in", labels=["stage"])
        for name in STAGES:
            stage.add_metric([name], 1.0 if name == open_stage else 0.0)
        yield stage
        yield GaugeMetricFamily("fedads_latest_model_version", "Newest published model version",
                                value=latest)


_COLLECTOR = _StatusCollector()
REGISTRY.register(_COLLECTOR)


def register_status_metrics(store, jobs) -> None:
    """Point the gauges at this coordinator's store (one coordinator per process)."""
    _COLLECTOR.store, _COLLECTOR.jobs = store, jobs
