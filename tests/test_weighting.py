"""Interest- and noise-weighted rounds end to end: the weights sites sent follow DESIGN §4 exactly."""
from __future__ import annotations

import json

import numpy as np
import pytest

from client_agent.local_store import LocalStore
from fedads.runtime.layout import UpdateLayout
from fedads.runtime.registry import ModelRegistry

BETA = 2.0


def _sent(fed, info):
    for p in info["participants"]:
        site = next(s for s in fed.sites if s.site_id == p["site_id"])
        yield p, *LocalStore(site.folder / "state").sent(info["round_id"])


def test_interest_weighting_and_personalisation(federation_factory):
    fed = federation_factory(n_sites=3).start()
    registry = ModelRegistry(fed.registry)
    args = ["--json", "start-round", "--wait", "--min-sites", "3", "--weighting", "interest", "--interest-beta",
            str(BETA), "--personalise-epochs", "1"]
    first = json.loads(fed.ctl(*args).stdout)
    assert first["state"] == "COMPLETED"
    m1, published = registry.load(first["result_version"])
    u_bar = published["interest.mean"]
    assert np.linalg.norm(u_bar) > 0  # ū was zero; it is now the securely aggregated mean interest
    layout = UpdateLayout.from_manifest(m1)
    slot = next(s for s in layout.slots if s.name == "interest.mean")
    for p, vector, record in _sent(fed, first):
        assert record["weights"]["global"] == pytest.approx(p["num_samples"])  # s_i = 0 against a zero ū
    assert 0 <= first["metrics"]["personalised_hr_at_10"] <= 1

    second = json.loads(fed.ctl(*args).stdout)
    assert second["state"] == "COMPLETED"
    scores = []
    for p, vector, record in _sent(fed, second):
        w = record["weights"]["global"]
        u_i = vector[slot.offset:slot.offset + slot.size] / w + u_bar  # what the site reported as u_i
        s_i = BETA * float(np.dot(u_i, u_bar) / (np.linalg.norm(u_i) * np.linalg.norm(u_bar)))
        assert -BETA <= s_i <= BETA
        assert w == pytest.approx(p["num_samples"] * np.exp(s_i), rel=1e-3)
        scores.append(s_i)
    assert len(set(np.round(scores, 6))) > 1  # sites differ in how close they are to the mean interest
    for site in fed.sites:
        assert (site.folder / "state" / "personalised.safetensors").exists()


def test_noise_weighting_uses_inverse_noise_variance(federation_factory):
    dp = "dp_clip_norm = 0.5\ndp_delta = 1e-5\ndp_epsilon_budget = 100.0\n"
    fed = federation_factory(n_sites=3, site_config={
        "site-01": dp + "dp_noise_multiplier = 0.5\nembedding_noise = 0.5", "site-02": dp + "dp_noise_multiplier = 1.0",
        "site-03": dp + "dp_noise_multiplier = 2.0"}).start()
    info = json.loads(fed.ctl("--json", "start-round", "--wait", "--accept-noise", "--min-sites", "3", "--weighting", "noise").stdout)
    assert info["state"] == "COMPLETED"
    for p, vector, record in _sent(fed, info):
        sigma = p["noise_multiplier"]
        assert record["weights"]["global"] == pytest.approx(p["num_samples"] / (sigma * 0.5) ** 2)
        if p["site_id"] == "site-01":  # SF-UBM-style embedding perturbation, with its cosine recorded
            assert 0.5 < record["privacy"]["embedding_cosine"] < 0.99
        else:
            assert "embedding_cosine" not in record["privacy"]
