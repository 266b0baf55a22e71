from __future__ import annotations

import torch

from admodels.models.fedads_model import FedAdsModel, ModelConfig, PrivateUserState
from admodels.scopes import parameter_scopes
from admodels.training import LocalStep, TrainSettings


def test_every_parameter_has_exactly_one_declared_scope():
    config = ModelConfig(n_items=50, groups=3, layers=2)
    model = FedAdsModel(config)
    private = PrivateUserState(config, n_users=7)
    shared = model.shared_scopes()
    assert set(shared) == {n for n, _ in model.named_parameters()}
    assert set(shared.values()) == {"global", "group:0", "group:1", "group:2"}
    assert set(parameter_scopes(private).values()) == {"private"}
    assert not set(shared) & set(parameter_scopes(private))
    # Each group's FFN is its own module: no tensor is shared between two group slots.
    group_ptrs = {}
    for name, p in model.named_parameters():
        if shared[name].startswith("group:"):
            assert p.data_ptr() not in group_ptrs, f"{name} reuses {group_ptrs.get(p.data_ptr())}"
            group_ptrs[p.data_ptr()] = name
    assert len(group_ptrs) == 3 * 4 * config.layers
    assert all(k not in model.shared_state() for k in ("user_emb", "ffn_down", "ffn_up"))
    # The mean interest is the one published statistic, and nothing trains it.
    params = dict(model.named_parameters())
    assert model.shared_statistics() == {"interest.mean"}
    assert not any(params[n].requires_grad for n in model.shared_statistics())


def test_private_state_changes_predictions_and_shared_state_round_trips():
    config = ModelConfig(n_items=30, dim=16, ffn_hidden=16, max_seq_len=8)
    torch.manual_seed(0)
    model = FedAdsModel(config).eval()
    private = PrivateUserState(config, n_users=2)
    with torch.no_grad():
        private.ffn_up.normal_()
    seq = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8], [0, 0, 3, 4, 5, 6, 7, 8]])
    cands = torch.tensor([[1, 2, 9], [1, 2, 9]])
    out = model(seq, cands, torch.tensor([0, 1]), private)
    assert out["ctr_logit"].shape == (2, 3) and torch.allclose(out["gate"].sum(-1), torch.ones(2))
    assert not torch.allclose(out["ctr_logit"][0], out["ctr_logit"][1])  # same history, different private users
    other = FedAdsModel(config).eval()
    other.load_shared_state(model.shared_state())
    again = other(seq, cands, torch.tensor([0, 1]), private)
    assert torch.allclose(out["ctr_logit"], again["ctr_logit"])
    empty = model(torch.zeros(1, 8, dtype=torch.long), cands[:1], torch.tensor([0]), private)
    assert torch.isfinite(empty["ctr_logit"]).all()


def test_din_factorised_first_layer_equals_the_plain_mlp():
    from admodels.layers.din import TargetAttention

    torch.manual_seed(0)
    att = TargetAttention(8, 16)
    keys, query = torch.randn(3, 7, 8), torch.randn(3, 5, 8)
    pad = torch.zeros(3, 7, dtype=torch.bool)
    pad[0, :3] = True
    k = keys.unsqueeze(1).expand(3, 5, 7, 8)
    q = query.unsqueeze(2).expand(3, 5, 7, 8)
    scores = att.mlp(torch.cat([k, q, k - q, k * q], dim=-1)).squeeze(-1).masked_fill(pad.unsqueeze(1), float("-inf"))
    expected = torch.einsum("bcl,bld->bcd", torch.softmax(scores, -1), keys)
    assert torch.allclose(att(keys, pad, query), expected, atol=1e-5)


def test_private_parameters_step_at_their_own_scaled_rate():
    """Adam's first step moves every coordinate with a gradient by about lr (times its group's scale), so one
    step shows which rate each kind of parameter trained at."""
    torch.manual_seed(0)
    config = ModelConfig(n_items=30, dim=8, ffn_hidden=16, max_seq_len=6, dropout=0.0)
    model, private = FedAdsModel(config), PrivateUserState(config, n_users=3)
    before_shared = {n: p.detach().clone() for n, p in model.named_parameters()}
    before_private = {n: p.detach().clone() for n, p in private.named_parameters()}
    settings = TrainSettings(lr=0.01, private_lr_scale=0.1)
    seq = torch.randint(1, 31, (4, 6))
    cands = torch.randint(1, 31, (4, 5))
    labels = torch.tensor([[1., 1.], [0., .6], [1., .8], [0., .2]])  # (conversion, value target) per example
    LocalStep(model, private, settings).step(seq, torch.tensor([0, 1, 2, 0]), cands, labels)
    shared_moves = torch.cat([(p.detach() - before_shared[n]).abs().flatten() for n, p in model.named_parameters()])
    private_moves = torch.cat([(p.detach() - before_private[n]).abs().flatten()
                               for n, p in private.named_parameters()])
    assert 0.009 < shared_moves.max() <= 0.0101
    assert 0.0009 < private_moves.max() <= 0.00101
