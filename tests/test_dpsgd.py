"""Record-level DP-SGD: per-record gradients are right, clipped to C, noised by σ·C, and accounted."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from dp_accounting import PoissonSampledDpEvent, GaussianDpEvent, SelfComposedDpEvent
from dp_accounting.rdp import RdpAccountant

from admodels.data.movielens import load_movielens
from admodels.data.sequences import SequenceData
from admodels.layers.multifaceted_ffn import InterestEncoder
from admodels.models.fedads_model import ModelConfig, PrivateUserState, build_model
from admodels.training import TrainSettings, candidate_batch, example_losses
from client_agent.site_privacy import BudgetExhausted, SitePrivacy
from privacy.dp.accountant import ORDERS
from privacy.dp.dpsgd import DPSGDStep
from privacy.dp.row_sparse import compact_ids


@pytest.fixture(scope="module")
def small():
    d = load_movielens("ml-100k")
    d = d.subset_users(np.unique(d.user)[:25])
    catalogue, idx = np.unique(d.item, return_inverse=True)
    data = SequenceData.from_arrays(d.user, idx + 1, d.timestamp, d.rating, len(catalogue), 8)
    config = ModelConfig(n_items=len(catalogue), max_seq_len=8, dim=16, ffn_hidden=16, dropout=0.0)
    return data, config


def _batch(data, n=6, seed=0):
    idx = data.train_targets()[:n]
    return candidate_batch(data, idx, 3, torch.Generator().manual_seed(seed), torch.device("cpu"))


def test_the_unrolled_gru_used_under_vmap_equals_the_fused_one():
    enc = InterestEncoder(12)
    x = torch.randn(5, 7, 12)
    torch.testing.assert_close(enc._unrolled(x), enc(x), rtol=1e-5, atol=1e-6)


def test_per_record_gradients_equal_one_backward_per_record(small):
    data, config = small
    model, private = build_model(config, seed=1), PrivateUserState(config, data.n_users, seed=2)
    settings = TrainSettings(lr=1e-3)
    step = DPSGDStep(model, private, settings, noise_multiplier=1.0, clip_norm=1.0, sample_rate=0.5)
    seq, users, cands, rating = _batch(data)
    seq[0, -2] = seq[0, -1]  # a record reading one item twice: its table gradient sums both lookups
    _, rows, (losses, _) = step.record_gradients(seq, users, cands, rating)
    assert rows["model.item_emb.weight"].shape[1] < data.n_items  # only the rows a record reads are kept
    grads = step.dense_record_gradients(seq, users, cands, rating)
    assert set(grads) == set(step.shared) | set(step.private)
    for i in range(len(seq)):
        model.zero_grad()
        private.zero_grad()
        out = model(seq[i:i + 1], cands[i:i + 1], users[i:i + 1], private)
        loss = example_losses(out, rating[i:i + 1], settings)[0]
        loss.backward()
        assert float(losses[i]) == pytest.approx(float(loss.detach()), rel=1e-5)
        for k, p in (*step.shared.items(), *step.private.items()):
            torch.testing.assert_close(grads[k][i], p.grad if p.grad is not None else torch.zeros_like(p),
                                       rtol=1e-4, atol=1e-6)


def test_compact_ids_renumber_each_record_within_its_own_distinct_rows():
    ids = torch.tensor([[0, 0, 7, 3, 7], [5, 5, 5, 5, 5], [9, 1, 4, 2, 8]])
    rows, local = compact_ids(ids)
    assert rows.shape == (3, 6)
    torch.testing.assert_close(torch.gather(rows, 1, local), ids)  # every lookup reads its own id back
    assert bool((local[ids == 0] == 0).all())  # padding stays row 0, which the embedding never trains
    for r in rows:
        used = r[r > 0]
        assert len(used) == len(set(used.tolist()))  # no real row twice: per-record norms stay exact


def _sgd_step(small, sigma: float, clip: float, batch: int, seed: int = 7, row_sparse: bool = True) -> DPSGDStep:
    """A DPSGDStep over shared and private parameters whose inner optimiser is plain SGD at lr 1, so a
    parameter's move is exactly the gradient opacus releases to the optimiser."""
    data, config = small
    model, private = build_model(config, seed=1), PrivateUserState(config, data.n_users, seed=2)
    step = DPSGDStep(model, private, TrainSettings(lr=1.0), noise_multiplier=sigma, clip_norm=clip, sample_rate=0.5,
                     generator=torch.Generator().manual_seed(seed), row_sparse=row_sparse)
    step.dp_opt.original_optimizer = torch.optim.SGD([*step.shared.values(), *step.private.values()], lr=1.0)
    step.dp_opt.expected_batch_size = batch
    return step


def test_the_released_gradient_is_the_mean_of_records_clipped_to_c_over_shared_and_private(small):
    """σ = 0 isolates clipping: the optimiser gets Σ clip_C(g_i) / E[batch], where g_i is record i's gradient
    of the shared and the private parameters together. Private state trained outside the clip would let a
    record steer every later shared gradient of its user without bound."""
    data, _ = small
    clip = 0.05  # well below the records' gradient norms, so every record is clipped
    step = _sgd_step(small, 0.0, clip, 6)
    params = {**step.shared, **step.private}
    seq, users, cands, rating = _batch(data)
    before = {k: p.detach().clone() for k, p in params.items()}
    g = step.dense_record_gradients(seq, users, cands, rating)
    assert any(float(g[k].abs().sum()) > 0 for k in step.private)  # the records do reach the private state
    norms = torch.sqrt(sum((g[k].flatten(1) ** 2).sum(1) for k in g))
    assert bool((norms > clip).all())
    torch.testing.assert_close(step.record_gradient_norms(seq, users, cands, rating), norms)
    expected = {k: (g[k] * (clip / norms).view(-1, *[1] * (g[k].dim() - 1))).sum(0) / 6 for k in g}
    step.step(seq, users, cands, rating)
    for k, p in params.items():
        torch.testing.assert_close(before[k] - p.detach(), expected[k], rtol=1e-4, atol=1e-7)
    applied = torch.sqrt(sum(((before[k] - params[k].detach()) ** 2).sum() for k in params))
    assert float(applied) <= clip + 1e-6  # the mean of clipped records cannot exceed C


def test_row_sparse_records_release_what_dense_per_record_tables_release(small):
    """The same records, clip and noise seed give the same released step whether each record's table
    gradients are kept to its rows or materialised in full; rows no record read still get noise."""
    data, _ = small
    seq, users, cands, rating = _batch(data)
    moved = []
    for row_sparse in (True, False):
        step = _sgd_step(small, 1.0, 0.05, 6, row_sparse=row_sparse)
        params = {**step.shared, **step.private}
        before = {k: p.detach().clone() for k, p in params.items()}
        step.step(seq, users, cands, rating)
        moved.append({k: before[k] - p.detach() for k, p in params.items()})
    for k in moved[0]:
        torch.testing.assert_close(moved[0][k], moved[1][k], rtol=1e-4, atol=1e-6)
    unread = torch.ones(data.n_items + 1, dtype=torch.bool)
    unread[torch.cat([seq, cands], dim=1).flatten()] = False
    assert int(unread.sum()) > 0 and bool((moved[0]["model.item_emb.weight"][unread] != 0).all())


def test_noise_on_the_released_gradient_has_std_sigma_c_over_the_expected_batch(small):
    """Both the shared and the private parameters get N(0, σ²C²)/E[batch] per coordinate."""
    sigma, clip, batch = 2.0, 0.5, 4
    step = _sgd_step(small, sigma, clip, batch)
    data, _ = small
    def flat(group: dict) -> torch.Tensor:
        return torch.cat([p.detach().flatten() for p in group.values()])

    shared, private = flat(step.shared).clone(), flat(step.private).clone()
    empty = tuple(t[:0] for t in _batch(data))
    step.step(*empty)  # an empty Poisson batch: the release is pure noise
    for before, after in ((shared, flat(step.shared)), (private, flat(step.private))):
        moved = before - after
        assert moved.numel() > 5_000
        assert float(moved.std()) == pytest.approx(sigma * clip / batch, rel=0.03)
        assert abs(float(moved.mean())) < 4 * sigma * clip / batch / moved.numel() ** 0.5


def test_record_level_budget_composes_every_step_and_refuses_when_spent(tmp_path):
    p = SitePrivacy(tmp_path, clip_norm=1.0, epsilon_budget=3.0, delta=1e-5, planned_rounds=3, unit="record")
    p.configure_records(n_records=2000, batch_size=100, epochs=2)
    assert p.sampling_rate == pytest.approx(0.05) and p.steps == 40
    spent = [p.commit() for _ in range(3)]
    direct = RdpAccountant(orders=ORDERS)
    direct.compose(SelfComposedDpEvent(PoissonSampledDpEvent(0.05, GaussianDpEvent(p.noise_multiplier)), 120))
    assert spent[-1] == pytest.approx(direct.get_epsilon(1e-5), rel=1e-9)
    assert spent[-1] <= 3.0 + 1e-6 and spent[0] < spent[1] < spent[2]
    from opacus.accountants import RDPAccountant as OpacusRDP

    opacus = OpacusRDP()
    opacus.history = [(p.noise_multiplier, 0.05, 120)]
    assert opacus.get_epsilon(1e-5) == pytest.approx(spent[-1], rel=0.05)  # a second library agrees
    reloaded = SitePrivacy(tmp_path, clip_norm=1.0, epsilon_budget=3.0, delta=1e-5, planned_rounds=3, unit="record")
    reloaded.configure_records(n_records=2000, batch_size=100, epochs=2)
    with pytest.raises(BudgetExhausted):  # the ledger on disk survives a restart
        reloaded.check()


def test_a_site_trains_with_dp_sgd_and_its_update_is_not_clipped_as_a_whole(tmp_path):
    from deploy.site_setup import local_registry, local_trainer, prepare_federation
    from fedads.runtime.layout import UpdateLayout
    from fedads.v1 import coordinator_pb2 as cpb

    specs, model_config = prepare_federation("ml-100k", 1, tmp_path, "in-process", 40, 0, max_seq_len=8,
                                             model_overrides={"dim": 16, "ffn_hidden": 16})
    registry, catalogs = local_registry(tmp_path, model_config)
    manifest, weights = registry.read_bytes(0)
    state = specs[0].folder / "state"
    privacy = SitePrivacy(state, clip_norm=1.0, epsilon_budget=4.0, delta=1e-5, planned_rounds=2, unit="record")
    trainer = local_trainer(specs[0], catalogs, "cpu", 0, 10, 99, 0, privacy)
    cfg = cpb.TrainConfig(epochs=1, learning_rate=3e-3, batch_size=64, negatives=3, seed=1, weighting="samples")
    outs = [trainer.train(manifest, weights, cfg)]
    # The site's interest embedding is a statistic of its records outside DP-SGD: it must not leave the site.
    layout = UpdateLayout.from_manifest(manifest)
    interest = next(s for s in layout.slots if s.name == "interest.mean")
    trained = next(s for s in layout.slots if s.name == "item_emb.weight")
    assert not outs[0].vector[interest.offset:interest.offset + interest.size].any()
    assert outs[0].vector[trained.offset:trained.offset + trained.size].any()
    with pytest.raises(ValueError, match="record-level DP does not protect"):
        trainer.train(manifest, weights, cpb.TrainConfig(epochs=1, learning_rate=3e-3, batch_size=64, negatives=3,
                                                         seed=2, weighting="interest"))
    assert privacy.budget.spent() == pytest.approx(outs[0].privacy["epsilon_spent"])  # the refusal spent nothing
    outs.append(trainer.train(manifest, weights, cfg))
    assert outs[0].privacy["epsilon_spent"] < outs[1].privacy["epsilon_spent"] <= 4.0 + 1e-6
    assert privacy.steps >= 1 and 0 < privacy.sampling_rate < 1
    with pytest.raises(BudgetExhausted):
        trainer.train(manifest, weights, cfg)
