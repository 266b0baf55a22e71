"""Datasets, site data files, sequence examples and partitioners."""
