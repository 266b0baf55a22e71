"""SecAgg+ (Bonawitz et al. 2017; Bell et al. 2020): the aggregator learns only the sum of masked vectors."""
