"""How FedAds runs: the local launcher (demo) and, alongside, container and cluster files."""
