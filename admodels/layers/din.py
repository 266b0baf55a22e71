"""DIN target attention: the candidate ad attends over the encoded behaviour sequence."""
from __future__ import annotations

import torch
from torch import nn


class TargetAttention(nn.Module):
    """Attention weights from an MLP on [v, a, v−a, v·a] (v: behaviour, a: candidate)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(4 * dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, keys: torch.Tensor, pad_mask: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """keys (B, L, D), pad_mask (B, L) True at padding, query (B, C, D) → pooled (B, C, D)."""
        first = self.mlp[0]
        d = keys.shape[-1]
        w_k, w_q, w_diff, w_prod = first.weight.split(d, dim=1)
        # The first layer is linear, so W·[v, a, v−a, v·a] = (W_v+W_d)·v + (W_a−W_d)·a + W_p·(v·a):
        # only the product term needs the (B, C, L) expansion, which halves the cost per candidate.
        from_keys = keys @ (w_k + w_diff).T                       # (B, L, H)
        from_query = query @ (w_q - w_diff).T + first.bias        # (B, C, H)
        prod = (query.unsqueeze(2) * keys.unsqueeze(1)) @ w_prod.T  # (B, C, L, H)
        hidden = torch.relu(prod + from_keys.unsqueeze(1) + from_query.unsqueeze(2))
        scores = self.mlp[2](hidden).squeeze(-1)                  # (B, C, L)
        scores = scores.masked_fill(pad_mask.unsqueeze(1), float("-inf"))
        # A user with an empty history would give an all -inf row; zero weights instead of NaN.
        weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
        return torch.einsum("bcl,bld->bcd", weights, keys)
