"""The multifaceted FFN sublayer (MRFF): a gate routes each user over G group FFNs, plus the user's private FFN."""
from __future__ import annotations

import torch
from torch import nn

from admodels.scopes import declare_scope, declare_statistics, group_scope


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MultifacetedFFN(nn.Module):
    """Σ_k g_k(user)·FFN_k(x) + PrivateFFN_user(x).

    Each group FFN is its own module with its own `group:k` scope, so the aggregator can
    average it with the gating mass each site routed to group k.
    """

    def __init__(self, dim: int, hidden: int, n_groups: int, dropout: float):
        super().__init__()
        self.groups = nn.ModuleList(
            declare_scope(FeedForward(dim, hidden, dropout), group_scope(k)) for k in range(n_groups))

    def forward(self, x: torch.Tensor, gate: torch.Tensor, private_down: torch.Tensor | None,
                private_up: torch.Tensor | None) -> torch.Tensor:
        # x (B, L, D), gate (B, G): dense mixture, G is small so every group runs on every user.
        out = torch.stack([ffn(x) for ffn in self.groups], dim=-1)  # (B, L, D, G)
        out = torch.einsum("bldg,bg->bld", out, gate)
        if private_down is not None:
            # Low-rank user-specific FFN: x·D_u·U_u with per-user (D, r) and (r, D) factors.
            out = out + torch.einsum("blr,brd->bld", torch.relu(torch.einsum("bld,bdr->blr", x, private_down)),
                                     private_up)
        return out


class InterestEncoder(nn.Module):
    """GRU over a user's behaviour → an interest embedding.

    Its output feeds the gate, so it learns with the main objective. A site's interest embedding u_i
    is the mean over its users; `mean` holds ū, the securely aggregated mean of the last round,
    published with the model and used by interest-weighted aggregation. `mean` is set, not trained.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.gru = nn.GRU(dim, dim, batch_first=True)
        self.mean = nn.Parameter(torch.zeros(dim), requires_grad=False)
        declare_statistics(self, "mean")

    def forward(self, item_embeddings: torch.Tensor) -> torch.Tensor:
        # Sequences are left-padded, so the final state is taken after the user's newest item.
        if torch._C._functorch.is_functorch_wrapped_tensor(item_embeddings):
            return self._unrolled(item_embeddings)
        _, h = self.gru(item_embeddings)
        return h[-1]

    def _unrolled(self, x: torch.Tensor) -> torch.Tensor:
        """The same GRU (same parameters, PyTorch's gate equations) step by step: torch.func.vmap has no
        batching rule for the fused kernel, and per-example gradients (DP-SGD) run under vmap."""
        g = self.gru
        gi_all = x @ g.weight_ih_l0.T + g.bias_ih_l0  # (B, L, 3D)
        h = x.new_zeros(x.shape[0], g.hidden_size)
        for t in range(x.shape[1]):
            r_i, z_i, n_i = gi_all[:, t].chunk(3, dim=-1)
            r_h, z_h, n_h = (h @ g.weight_hh_l0.T + g.bias_hh_l0).chunk(3, dim=-1)
            r, z = torch.sigmoid(r_i + r_h), torch.sigmoid(z_i + z_h)
            n = torch.tanh(n_i + r * n_h)
            h = (1 - z) * n + z * h
        return h


class GatingNetwork(nn.Module):
    """Routes a user to groups from a summary of their sequence and their own embedding."""

    def __init__(self, dim: int, n_groups: int):
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, n_groups))

    def forward(self, seq_summary: torch.Tensor, user_emb: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.proj(torch.cat([seq_summary, user_emb], dim=-1)), dim=-1)


def balance_loss(gate: torch.Tensor) -> torch.Tensor:
    """G·Σ_k (mean gate mass of k)²: 1 when groups are used evenly, G when one takes all."""
    mean = gate.mean(dim=0)
    return gate.shape[-1] * (mean * mean).sum()
