"""Differential privacy for site updates: clipping, Gaussian noise, and accounting with dp-accounting."""
