"""FedAds wire contracts (fedads.v1, generated) and the runtime pieces every service shares."""
