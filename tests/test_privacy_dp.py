"""Differential privacy: the accountant is dp-accounting's, clipping and noise are what they claim."""
from __future__ import annotations

import json

import dp_accounting as dpa
import numpy as np
import pytest
from dp_accounting.rdp import RdpAccountant

from client_agent.site_privacy import BudgetExhausted, SitePrivacy
from client_agent.site_trainer import aggregation_factor
from privacy.dp.accountant import ORDERS, SiteBudget, calibrate_noise, epsilon_for
from privacy.dp.mechanism import add_gaussian_noise, clip_update


@pytest.mark.parametrize("sigma,q,rounds", [(1.0, 1.0, 10), (2.5, 1.0, 3), (1.2, 0.2, 50), (0.8, 0.05, 200)])
def test_epsilon_equals_the_library_computed_directly(sigma, q, rounds):
    acc = RdpAccountant(orders=ORDERS)
    event = dpa.GaussianDpEvent(sigma) if q == 1.0 else dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(sigma))
    acc.compose(dpa.SelfComposedDpEvent(event, rounds))
    assert epsilon_for([(sigma, q)] * rounds, 1e-5) == pytest.approx(acc.get_epsilon(1e-5), rel=1e-9)


def test_calibrated_noise_spends_the_budget_and_no_more():
    sigma = calibrate_noise(4.0, 1e-5, 12, 1.0)
    assert epsilon_for([(sigma, 1.0)] * 12, 1e-5) <= 4.0
    assert epsilon_for([(sigma * 0.99, 1.0)] * 12, 1e-5) > 4.0


def test_clipped_norm_never_exceeds_c():
    rng = np.random.default_rng(0)
    for trial in range(200):
        scale = 10 ** rng.uniform(-3, 3)
        deltas = {"a": rng.normal(size=(7, 3)) * scale, "b": rng.normal(size=11) * scale}
        c = 10 ** rng.uniform(-2, 1)
        out = clip_update(deltas, c)
        norm = np.sqrt(sum(np.sum(v ** 2) for v in out.deltas.values()))
        assert norm <= c * (1 + 1e-9)
        if out.norm_before <= c:  # within the ball: untouched
            assert all(np.array_equal(out.deltas[k], deltas[k]) for k in deltas)


def test_noise_standard_deviation_matches_sigma_times_c():
    rng = np.random.default_rng(42)
    zeros = {"w": np.zeros(1_000_000)}
    noisy = add_gaussian_noise(zeros, clip_norm=0.5, noise_multiplier=1.7, rng=rng)["w"]
    # std of 1e6 draws is within 0.5% of the target with overwhelming probability
    assert noisy.std() == pytest.approx(0.85, rel=5e-3)
    assert abs(noisy.mean()) < 5 * 0.85 / 1000


def test_site_refuses_once_its_budget_would_be_exceeded(tmp_path):
    privacy = SitePrivacy(tmp_path, clip_norm=1.0, epsilon_budget=3.0, noise_multiplier=1.5)
    spent = []
    while True:
        try:
            privacy.check()
        except BudgetExhausted as exc:
            assert "budget exhausted" in str(exc)
            break
        spent.append(privacy.commit())
    assert spent and spent == sorted(spent) and spent[-1] <= 3.0
    assert epsilon_for([(1.5, 1.0)] * (len(spent) + 1), 1e-5) > 3.0
    # The ledger persists: a restarted agent still refuses.
    again = SitePrivacy(tmp_path, clip_norm=1.0, epsilon_budget=3.0, noise_multiplier=1.5)
    with pytest.raises(BudgetExhausted):
        again.check()
    assert len(json.loads((tmp_path / "privacy.json").read_text())["history"]) == len(spent)
    assert SiteBudget.load(tmp_path / "privacy.json", 3.0, 1e-5).spent() == pytest.approx(spent[-1])


def test_noise_weighting_factor_is_inverse_noise_variance(tmp_path):
    privacy = SitePrivacy(tmp_path, clip_norm=0.5, epsilon_budget=8.0, noise_multiplier=2.0)
    assert aggregation_factor("samples", privacy) == 1.0
    assert aggregation_factor("noise", privacy) == pytest.approx(1.0 / (0.5 * 2.0) ** 2)
    with pytest.raises(ValueError, match="needs differential privacy"):
        aggregation_factor("noise", SitePrivacy(tmp_path / "off"))


def test_embedding_perturbation_cosine_falls_with_noise():
    from privacy.dp.embedding import perturb_rows

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(500, 32)).astype(np.float32)
    same, cos0 = perturb_rows(emb, 0.0, rng)
    assert cos0 == pytest.approx(1.0, abs=1e-6) and np.allclose(same, emb)
    cosines = [perturb_rows(emb, r, rng)[1] for r in (0.1, 0.5, 1.0, 3.0)]
    assert cosines == sorted(cosines, reverse=True)
    # relative noise r leaves cos ≈ 1/sqrt(1 + r²) for high-dimensional rows
    assert cosines[2] == pytest.approx(1 / np.sqrt(2), abs=0.03)
