"""The daemon a partner site runs: pulls global models, trains on site, uploads shared updates only."""
