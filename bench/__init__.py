"""Benchmarks: run by hand, print figures, write markdown and PNG reports under reports/."""
