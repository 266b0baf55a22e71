"""bench/ads: the ad model judged as ad teams judge it, beside popularity and logistic-regression baselines."""
