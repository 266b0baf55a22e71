"""The FedAds model family (DESIGN §7): layers, models, data and metrics shared by training and serving."""
