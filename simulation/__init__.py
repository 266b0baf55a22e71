"""Many sites in one process, for sweeps: the agents' SiteTrainer and the aggregator's layout and registry."""
