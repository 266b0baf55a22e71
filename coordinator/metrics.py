"""Prometheus metrics of the coordinator."""
from prometheus_client import Counter, Gauge, Histogram

ROUNDS = Counter("fedads_rounds_total", "Rounds that ended, by final state", ["state"])
STAGE_SECONDS = Histogram("fedads_stage_seconds", "Duration of round stages", ["stage"],
                          buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800))
DROPOUTS = Counter("fedads_site_dropouts_total", "Participants dropped, refused or failed", ["reason"])
EPSILON = Gauge("fedads_site_epsilon_spent", "Cumulative ε reported by each site", ["site"])
SITES_ONLINE = Gauge("fedads_sites_online", "Sites holding an open task stream")
JOBS = Counter("fedads_jobs_total", "Training jobs that ended, by final state", ["state"])
