"""The aggregator: receives update vectors, sums them, publishes weighted averages."""
