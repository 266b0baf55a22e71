"""A round's local step cap (FedAvg's K steps): sites stop after K minibatches, are still weighed by their
records, and a record-level DP site accounts only the steps it took."""
import numpy as np
import pytest
from dp_accounting import GaussianDpEvent, PoissonSampledDpEvent, SelfComposedDpEvent
from dp_accounting.rdp import RdpAccountant

from admodels.data.sequences import SequenceData
from admodels.models.fedads_model import ModelConfig, build_model
from admodels.training import LocalStep, TrainSettings, epoch_targets, train_local
from client_agent.site_privacy import SitePrivacy
from privacy.dp.accountant import ORDERS
from simulation.runner import SimConfig, run
from tests.test_optimizer_state import TINY, _adam_steps


class CountingStep(LocalStep):
    taken = 0

    def step(self, *batch):
        CountingStep.taken += 1
        return super().step(*batch)


def _data() -> SequenceData:
    rng = np.random.default_rng(0)
    users, per_user = 12, 15
    user_ids = np.repeat(np.arange(users), per_user)
    items = rng.integers(1, 41, users * per_user)
    return SequenceData.from_arrays(user_ids, items, np.tile(np.arange(per_user), users),
                                    rng.integers(1, 6, users * per_user).astype(np.float32), n_items=40, max_len=8)


@pytest.mark.parametrize("cap", [0, 2, 5, 100])
def test_training_stops_after_the_step_cap_and_scales_a_cut_epochs_gate_mass(cap):
    data = _data()
    config = ModelConfig(n_items=40, dim=8, ffn_hidden=8, max_seq_len=8, use_private=False)
    settings = TrainSettings(epochs=2, lr=1e-3, batch_size=32, max_steps=cap)
    n = len(epoch_targets(data))
    per_epoch = -(-n // 32)
    CountingStep.taken = 0
    stats = train_local(build_model(config), None, data, settings, step_factory=CountingStep)
    expected = min(cap, 2 * per_epoch) if cap else 2 * per_epoch
    assert CountingStep.taken == expected
    assert stats.records_per_epoch == n
    assert stats.num_samples == sum(min(32, n - 32 * (i % per_epoch)) for i in range(expected))
    # Every record's gate sums to 1, so a whole epoch's gate mass is its record count; a cut epoch's is
    # scaled up to it, so sites' group weights stay in proportion to their records.
    assert stats.group_mass.sum() == pytest.approx(n, rel=1e-6)


def test_a_negative_step_cap_is_refused():
    config = ModelConfig(n_items=40, dim=8, ffn_hidden=8, max_seq_len=8, use_private=False)
    with pytest.raises(ValueError, match="max_steps must be ≥ 0"):
        train_local(build_model(config), None, _data(), TrainSettings(max_steps=-1))


def test_simulated_sites_take_at_most_the_cap_in_adam_steps(tmp_path):
    k3 = run(SimConfig(**TINY, rounds=1, keep_optimizer_state=True, batch_size=8, local_steps=3), tmp_path / "k3",
             progress=False)
    every = run(SimConfig(**TINY, rounds=1, keep_optimizer_state=True, batch_size=8), tmp_path / "all",
                progress=False)
    capped, whole = _adam_steps(tmp_path / "k3"), _adam_steps(tmp_path / "all")
    assert set(capped) == set(whole) and all(whole[s] > 3 for s in whole)
    assert all(steps == 3 for steps in capped.values())
    # The history says how much of the data a round read: one whole epoch, or the cap's share of it.
    assert every[0]["data_epochs"] == pytest.approx(1.0)
    # 2 sites × 3 steps × 8 samples, against about 8 records per step of a whole epoch.
    assert k3[0]["data_epochs"] == pytest.approx(2 * 3 * 8 / (8 * sum(whole.values())), rel=0.2)


def test_record_level_accounting_counts_only_the_capped_steps(tmp_path):
    p = SitePrivacy(tmp_path, clip_norm=1.0, epsilon_budget=3.0, delta=1e-5, planned_rounds=3, unit="record")
    p.configure_records(n_records=2000, batch_size=100, epochs=2, max_steps=7)
    assert p.sampling_rate == pytest.approx(0.05) and p.steps == 7
    spent = [p.commit() for _ in range(3)]
    direct = RdpAccountant(orders=ORDERS)
    direct.compose(SelfComposedDpEvent(PoissonSampledDpEvent(0.05, GaussianDpEvent(p.noise_multiplier)), 21))
    assert spent[-1] == pytest.approx(direct.get_epsilon(1e-5), rel=1e-9) and spent[-1] <= 3.0 + 1e-6
    uncapped = SitePrivacy(tmp_path / "u", clip_norm=1.0, epsilon_budget=3.0, delta=1e-5, planned_rounds=3,
                           unit="record")
    uncapped.configure_records(n_records=2000, batch_size=100, epochs=2, max_steps=1000)
    assert uncapped.steps == 40  # a cap above the epochs' steps changes nothing
    assert uncapped.noise_multiplier > p.noise_multiplier  # fewer steps per round: less noise for the budget
